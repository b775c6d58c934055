package jobs

import (
	"github.com/promptq/promptq/internal/catalogue"

	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeRequest: any body is either a valid request within the limits
// or an invalid_request error naming a field; never a panic.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"prompt":"Write a haiku"}`,
		`{"prompt":"p","system":"s","max_tokens":8192,"temperature":1,"model":"` + DefaultModel + `"}`,
		`{"prompt":"p","max_tokens":1e3}`, `{"prompt":"p","max_tokens":-1}`, `{"prompt":"p","temperature":"hot"}`,
		`{"prompt":null}`, `{"prompt":"\u0000"}`, `{"prompt":"\ud800"}`, `[]`, `"x"`, `null`, `{}{}`, `{"prompt":"p",}`,
		`{"prompt":"p","prompt":"q"}`, `{"PROMPT":"p"}`, "\xff\xfe", ``,
	} {
		f.Add([]byte(seed))
	}
	l := DefaultLimits()
	l.MaxPromptChars = 1000
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body, l)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || e.Field == "" || e.Message == "" {
				t.Fatalf("error %#v, want invalid_request with a field and a message", err)
			}
			return
		}
		n := utf8.RuneCountInString(r.Prompt)
		if n == 0 || n > l.MaxPromptChars || r.MaxTokens < 1 || r.MaxTokens > maxOutput(r.Model) || len(r.Prompt) > l.MaxPromptBytes || r.Model == "" {
			t.Fatalf("accepted a request outside the limits: %+v", r)
		}
		if r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 1) {
			t.Fatalf("accepted temperature %v", *r.Temperature)
		}
	})
}

func maxOutput(model string) int {
	m, _ := catalogue.Lookup(model)
	return m.MaxOutputTokens
}
