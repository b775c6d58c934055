package jobs_test

import (
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// A reservation bounds what a request can count against a budget on its
// model: its bytes (a token is at least a byte, on the Claude 4.7-and-later
// tokenizer too), and 5x when that bound passes Haiku 5.5's long-context
// band, which bills the whole request at 5x.
func TestWorstCaseTokensFollowTheModel(t *testing.T) {
	const haiku55, haiku45 = "us.anthropic.claude-haiku-5-5", "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	short := strings.Repeat("é", 1000) // 2,000 bytes
	long := strings.Repeat("a", 100_001)
	for _, tc := range []struct {
		name string
		r    jobs.Request
		want int
	}{
		{"a short prompt", jobs.Request{Model: haiku55, Prompt: short, MaxTokens: 100}, 2000 + jobs.InputFramingTokens + 100},
		{"a prompt whose bound passes the band", jobs.Request{Model: haiku55, Prompt: long, MaxTokens: 100},
			5 * (100_001 + jobs.InputFramingTokens + 100)},
		{"the same prompt on a model without a band", jobs.Request{Model: haiku45, Prompt: long, MaxTokens: 100},
			100_001 + jobs.InputFramingTokens + 100},
	} {
		if got := tc.r.WorstCaseTokens(); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestBudgetTokensCountTheLongContextBand(t *testing.T) {
	j := jobs.Job{Model: "us.anthropic.claude-haiku-5-5", Lane: jobs.LaneEconomy}
	short := jobs.Tokens{Input: 99_000, CacheRead: 1_000, Output: 10}
	if n, k := j.BudgetTokens(short); n.Total() != short.Total() || k.Long || !k.Batch || k.String() != j.Model+"@batch" {
		t.Errorf("a 100,000-token prompt: %d under %s", n, k)
	}
	long := jobs.Tokens{Input: 99_000, CacheRead: 1_001, Output: 10}
	if n, k := j.BudgetTokens(long); n.Total() != 5*long.Total() || n != long.Times(5) || !k.Long || k.String() != j.Model+"@batch@long" {
		t.Errorf("a 100,001-token prompt: %d under %s", n, k)
	}
	if k := jobs.ParseUsageKey(j.Model + "@batch@long"); k != (jobs.UsageKey{Model: j.Model, Batch: true, Long: true}) {
		t.Errorf("ParseUsageKey = %+v", k)
	}
}

// A call cut off before the model reported its usage is charged a bound,
// never a guess: every byte a token at most (a CJK character is 3 bytes
// and often one token, an emoji 4 bytes and up to 4 tokens), input the
// system prompt and the conversation (a continuation's text so far, and a
// user turn's request to go on), output the bytes the model wrote (its
// reasoning's too, which the caller counts), never more than the call's
// max_tokens.
func TestCutOffTokensBoundsACallInBytes(t *testing.T) {
	t.Parallel()
	const (
		cjk   = "量子計算の未来について書いてください。" // 19 characters, 57 bytes
		emoji = "🚀🌕✨"                 // 3 characters, 11 bytes
	)
	tests := []struct {
		name   string
		req    jobs.Request
		output int
		want   jobs.Tokens
	}{
		{"English", jobs.Request{Prompt: "Write a haiku.", MaxTokens: 100}, 11,
			jobs.Tokens{Input: 14 + jobs.InputFramingTokens, Output: 11}},
		{"CJK and emoji, input included", jobs.Request{Prompt: cjk, System: emoji, MaxTokens: 100}, 57,
			jobs.Tokens{Input: 57 + 11 + jobs.InputFramingTokens, Output: 57}},
		{"a prefill's input includes the text it continues", jobs.Request{Prompt: cjk, Continue: emoji + " ", MaxTokens: 100}, 0,
			jobs.Tokens{Input: 57 + 11 + jobs.InputFramingTokens}},
		{"a user turn's, the request to go on too", jobs.Request{Prompt: cjk, Continue: emoji + " \n", ContinueBy: catalogue.UserTurn, MaxTokens: 100}, 0,
			jobs.Tokens{Input: 57 + 11 + len(jobs.ContinueTurn) + jobs.InputFramingTokens}},
		{"output never more than max_tokens", jobs.Request{Prompt: "p", MaxTokens: 20}, 57,
			jobs.Tokens{Input: 1 + jobs.InputFramingTokens, Output: 20}},
	}
	for _, tt := range tests {
		if got := tt.req.CutOffTokens(tt.output); got != tt.want {
			t.Errorf("%s: CutOffTokens = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
