package jobs

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Searching a user's jobs (GET /jobs?q=) matches words, in any case,
// against a job's search terms: the distinct words of its prompt and
// system prompt, and of its answer once it has one (SearchTerms), which a
// store keeps beside the job in a small item of their own, so a search
// reads that and never the texts. A job matches when every word of the
// query is found in its terms, inside a word too ("queue" finds
// "queues"), as the page's own filter did.

// The limits of a search query (GET /jobs's q), in characters and words.
const (
	MaxSearchChars = 200
	MaxSearchWords = 10
)

// The most of a job's terms kept for its prompt (with its system prompt)
// and for its answer, in bytes: the words past them, in order of their
// first use, are not found. They bound what a search reads a job (about
// as much as its words, once each: an answer of a thousand words keeps
// about 4 KB).
const (
	PromptTermsBytes = 8 << 10
	AnswerTermsBytes = 24 << 10
)

// SearchWords is the words of a search query as SearchTerms makes them: a
// KindInvalid error naming q for a query that is blank, has no word, or is
// longer than MaxSearchChars or MaxSearchWords.
func SearchWords(q string) ([]string, error) {
	switch n := utf8.RuneCountInString(q); {
	case strings.TrimSpace(q) == "":
		return nil, Invalid("q", "q must not be blank: give the words to look for.")
	case n > MaxSearchChars:
		return nil, Invalid("q", "q must be at most %d characters; it has %d.", MaxSearchChars, n)
	}
	words := words(q)
	switch {
	case len(words) == 0:
		return nil, Invalid("q", "q must have a word to look for: letters or digits.")
	case len(words) > MaxSearchWords:
		return nil, Invalid("q", "q must have at most %d words; it has %d.", MaxSearchWords, len(words))
	}
	return words, nil
}

// SearchTerms is the search terms of texts: their distinct words,
// lower-cased, in order of first use, each with a space before it and one
// at the end (" queue worker lambda "), at most max bytes (cut after a
// whole word). A word is a run of letters, digits and marks: anything else
// separates words.
func SearchTerms(max int, texts ...string) string {
	var b strings.Builder
	seen := map[string]bool{}
	b.WriteByte(' ')
	for _, t := range texts {
		for _, w := range words(t) {
			if seen[w] {
				continue
			}
			if b.Len()+len(w)+1 > max {
				return b.String()
			}
			seen[w] = true
			b.WriteString(w)
			b.WriteByte(' ')
		}
	}
	if b.Len() == 1 {
		return ""
	}
	return b.String()
}

// TermsMatch reports whether every word is found in one of terms (a
// job's prompt terms or its answer terms, as SearchTerms made them).
func TermsMatch(words []string, terms ...string) bool {
	for _, w := range words {
		found := false
		for _, t := range terms {
			if strings.Contains(t, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// words is s's words, lower-cased, repeats included.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
}
