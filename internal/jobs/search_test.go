package jobs

import (
	"slices"
	"strings"
	"testing"
)

func TestSearchTermsAreTheDistinctWordsLowerCasedWithinTheirBound(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		max   int
		texts []string
		want  string
	}{
		{"words once, in order, any case", 100, []string{"Queues, QUEUES and workers!", "workers: Lambda"}, " queues and workers lambda "},
		{"letters of any script, digits, marks", 100, []string{"Ünïcode 日本語 x2 café"}, " ünïcode 日本語 x2 café "},
		{"cut after a whole word", 12, []string{"alpha beta gamma"}, " alpha beta "},
		{"no word", 100, []string{"?!", ""}, ""},
	} {
		if got := SearchTerms(tt.max, tt.texts...); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSearchWordsRefuseWhatCannotBeSearched(t *testing.T) {
	t.Parallel()
	if w, err := SearchWords("  HAIKU, queue "); err != nil || !slices.Equal(w, []string{"haiku", "queue"}) {
		t.Errorf("SearchWords = %v, %v", w, err)
	}
	for _, q := range []string{"", "   ", "?!", strings.Repeat("a", MaxSearchChars+1), strings.Repeat("w ", MaxSearchWords+1)} {
		if _, err := SearchWords(q); KindOf(err) != KindInvalid || err.(*Error).Field != "q" {
			t.Errorf("SearchWords(%q): %v, want invalid naming q", q, err)
		}
	}
	terms := SearchTerms(100, "Write a haiku about queues")
	if !TermsMatch([]string{"haiku", "queue"}, terms) || TermsMatch([]string{"haiku", "tables"}, terms) ||
		!TermsMatch([]string{"haiku", "tables"}, terms, " tables ") {
		t.Error("TermsMatch wants every word, in any of the terms, inside words too")
	}
}
