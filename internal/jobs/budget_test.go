package jobs

import "testing"

// A call cut off before the model reported its usage is charged a bound,
// never a guess: every byte a token at most (a CJK character is 3 bytes
// and often one token, an emoji 4 bytes and up to 4 tokens), and never
// more output than the call's max_tokens.
func TestCutOffTokensBoundsACallInBytes(t *testing.T) {
	t.Parallel()
	const (
		cjk   = "量子計算の未来について書いてください。" // 19 characters, 57 bytes
		emoji = "🚀🌕✨"                 // 3 characters, 11 bytes
	)
	tests := []struct {
		name   string
		req    Request
		output string
		want   Tokens
	}{
		{"English", Request{Prompt: "Write a haiku.", MaxTokens: 100}, "Queues wait",
			Tokens{Input: 14 + InputFramingTokens, Output: 11}},
		{"CJK and emoji, input included", Request{Prompt: cjk, System: emoji, MaxTokens: 100}, cjk,
			Tokens{Input: 57 + 11 + InputFramingTokens, Output: 57}},
		{"a continuing call's input includes the text it continues", Request{Prompt: cjk, Continue: emoji, MaxTokens: 100}, "",
			Tokens{Input: 57 + 11 + InputFramingTokens}},
		{"output never more than max_tokens", Request{Prompt: "p", MaxTokens: 20}, cjk,
			Tokens{Input: 1 + InputFramingTokens, Output: 20}},
	}
	for _, tt := range tests {
		if got := tt.req.CutOffTokens(tt.output); got != tt.want {
			t.Errorf("%s: CutOffTokens = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// Reservations are unchanged: a submission continues nothing.
func TestWorstCaseTokensIsTheCutOffBoundAtMaxTokens(t *testing.T) {
	t.Parallel()
	r := Request{Prompt: "量子", System: "🚀", MaxTokens: 50}
	if got, want := r.WorstCaseTokens(), 6+4+InputFramingTokens+50; got != want {
		t.Errorf("WorstCaseTokens = %d, want %d", got, want)
	}
	full := r.CutOffTokens(string(make([]byte, 1000)))
	if full.Total() != r.WorstCaseTokens() {
		t.Errorf("a cut-off call at max_tokens is bounded by %d, want the reservation %d", full.Total(), r.WorstCaseTokens())
	}
}
