package jobs

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	arnPattern     = regexp.MustCompile(`arn:aws[a-zA-Z-]*:[^\s"',;)]*`)
	s3URIPattern   = regexp.MustCompile(`(?i)s3://[^\s"',;)]*`)
	accountPattern = regexp.MustCompile(`\b\d{12}\b`)
)

// MaxProviderMessage bounds the text of a model provider's message that a
// job's owner is shown.
const MaxProviderMessage = 300

// ScrubProviderMessage is a model provider's message (Bedrock's, on demand
// or from a batch run) as a job's owner may see it: without what it may
// reveal about the deployment (ARNs, which name roles and resources; S3
// URIs, which name buckets; account ids), on one line, and at most
// MaxProviderMessage characters.
func ScrubProviderMessage(s string) string {
	s = arnPattern.ReplaceAllString(s, "(resource)")
	s = s3URIPattern.ReplaceAllString(s, "(bucket)")
	s = accountPattern.ReplaceAllString(s, "(account)")
	return oneLine(s, MaxProviderMessage)
}

// oneLine is s on one line (each run of whitespace one space), cut to at
// most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n]) + "…"
	}
	return s
}
