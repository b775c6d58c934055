package localmodel_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

var _ worker.Model = (*localmodel.Model)(nil)

// fast streams without noticeable delay.
func fast() *localmodel.Model { return localmodel.New(localmodel.Options{TokensPerSecond: 1e6}) }

func generate(t *testing.T, m *localmodel.Model, req jobs.Request) (jobs.Progress, []string, error) {
	t.Helper()
	var deltas []string
	p, err := m.Generate(t.Context(), req, func(s string) { deltas = append(deltas, s) })
	return p, deltas, err
}

func TestAnswersAreDeterministicAndSayTheyAreNotAModel(t *testing.T) {
	t.Parallel()
	req := jobs.Request{Prompt: "Tell me about queues, please.", System: "Be brief.", Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", MaxTokens: 1024}
	m := fast()
	p1, deltas, err := generate(t, m, req)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	p2, _, err := generate(t, localmodel.New(localmodel.Options{TokensPerSecond: 1e6}), req)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if p1 != p2 {
		t.Errorf("two runs of one request differ:\n%+v\n%+v", p1, p2)
	}
	if !strings.HasPrefix(p1.GeneratedText, localmodel.Banner+" ") {
		t.Errorf("text does not start with the banner: %q", p1.GeneratedText)
	}
	if !strings.Contains(p1.GeneratedText, localmodel.ID+" is standing in for "+req.Model) {
		t.Errorf("text does not name what it stands in for: %q", p1.GeneratedText)
	}
	if got := strings.Join(deltas, ""); got != p1.GeneratedText {
		t.Errorf("deltas join to %q, want the text %q", got, p1.GeneratedText)
	}
	words := strings.Fields(p1.GeneratedText)
	if len(deltas) != len(words) {
		t.Errorf("%d deltas for %d words; want one word per delta", len(deltas), len(words))
	}
	if want := (jobs.Tokens{Input: 2 + 5, Output: len(words)}); p1.Tokens != want {
		t.Errorf("tokens = %+v, want %+v (whitespace-separated words)", p1.Tokens, want)
	}
	if p1.StopReason != localmodel.StopEndTurn {
		t.Errorf("stop reason = %q, want %q", p1.StopReason, localmodel.StopEndTurn)
	}
	if len(words) < 40 || len(words) > 160 {
		t.Errorf("answer has %d words, want 40 to 160", len(words))
	}

	other := req
	other.Prompt = "Tell me about tables."
	p3, _, err := generate(t, m, other)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if p3.GeneratedText == p1.GeneratedText {
		t.Error("different prompts gave the same text")
	}
}

func TestMaxTokensCutsTheAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		maxTokens int
		wantWords int
		wantStop  string
	}{
		{1, 1, localmodel.StopMaxTokens},
		{5, 5, localmodel.StopMaxTokens},
		{20, 20, localmodel.StopMaxTokens},
		{8192, -1, localmodel.StopEndTurn}, // -1: the whole answer
	}
	for _, tt := range tests {
		req := jobs.Request{Prompt: "one two three", Model: "m", MaxTokens: tt.maxTokens}
		p, deltas, err := generate(t, fast(), req)
		if err != nil {
			t.Fatalf("max_tokens %d: %v", tt.maxTokens, err)
		}
		words := len(strings.Fields(p.GeneratedText))
		if tt.wantWords >= 0 && words != tt.wantWords {
			t.Errorf("max_tokens %d: %d words, want %d", tt.maxTokens, words, tt.wantWords)
		}
		if p.Tokens.Output != words || len(deltas) != words {
			t.Errorf("max_tokens %d: output tokens %d, deltas %d, words %d; want all equal", tt.maxTokens, p.Tokens.Output, len(deltas), words)
		}
		if p.StopReason != tt.wantStop {
			t.Errorf("max_tokens %d: stop reason %q, want %q", tt.maxTokens, p.StopReason, tt.wantStop)
		}
	}
}

func TestGenerateStopsWhenTheContextIsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	// A realistic pace: the model is mid-answer when the caller cancels.
	m := localmodel.New(localmodel.Options{TokensPerSecond: 1000})
	p, err := m.Generate(ctx, jobs.Request{Prompt: "hello", Model: "m", MaxTokens: 1000}, func(string) {
		n++
		if n == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate error = %v, want context.Canceled", err)
	}
	// What streamed before the cancel, so the caller can keep it; never
	// a stop reason, which only a complete answer has.
	if p.Tokens.Output != 3 || len(strings.Fields(p.GeneratedText)) != 3 || p.StopReason != "" {
		t.Errorf("a cancelled answer returned %+v", p)
	}
	if n != 3 {
		t.Errorf("%d deltas after cancelling at the third", n)
	}
}

func TestFaultMarkersMakeTheModelMisbehave(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prompt       string
		kind         jobs.Kind
		retryable    bool
		deltasBefore bool // some text streams before the error
	}{
		{"please promptq-fault:throttle now", jobs.KindRateLimited, true, false},
		{"promptq-fault:invalid", jobs.KindInvalid, false, false},
		{"x promptq-fault:midstream", jobs.KindUnavailable, true, true},
		{"promptq-fault:no-such-fault", jobs.KindInvalid, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.prompt, func(t *testing.T) {
			t.Parallel()
			p, deltas, err := generate(t, fast(), jobs.Request{Prompt: tt.prompt, Model: "m", MaxTokens: 500})
			if jobs.KindOf(err) != tt.kind || worker.Retryable(err) != tt.retryable {
				t.Errorf("error %v: kind %s retryable %v, want %s %v", err, jobs.KindOf(err), worker.Retryable(err), tt.kind, tt.retryable)
			}
			// A failed call returns what it streamed, as Bedrock's adapter does.
			if p.GeneratedText != strings.Join(deltas, "") || p.Tokens.Output != len(deltas) || p.StopReason != "" {
				t.Errorf("a failed call returned %+v after %d deltas", p, len(deltas))
			}
			if (len(deltas) > 0) != tt.deltasBefore {
				t.Errorf("%d deltas before the error, want some: %v", len(deltas), tt.deltasBefore)
			}
		})
	}
}

func TestThrottleOnceFailsOnlyTheFirstCall(t *testing.T) {
	t.Parallel()
	m := fast()
	req := jobs.Request{Prompt: "promptq-fault:throttle-once", Model: "m", MaxTokens: 100}
	if _, _, err := generate(t, m, req); jobs.KindOf(err) != jobs.KindRateLimited {
		t.Fatalf("first call: %v, want a rate limit", err)
	}
	if p, _, err := generate(t, m, req); err != nil || p.StopReason != localmodel.StopEndTurn {
		t.Fatalf("second call = %+v, %v; want an answer", p, err)
	}
	other := req
	other.System = "a different request"
	if _, _, err := generate(t, m, other); jobs.KindOf(err) != jobs.KindRateLimited {
		t.Errorf("first call of another request: %v, want a rate limit", err)
	}
}

func TestHangStreamsTheBannerThenWaitsForTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var text strings.Builder
	_, err := fast().Generate(ctx, jobs.Request{Prompt: "promptq-fault:hang", Model: "m", MaxTokens: 100}, func(s string) {
		text.WriteString(s)
		if text.String() == localmodel.Banner {
			cancel() // Generate returns only because of this
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate error = %v, want context.Canceled", err)
	}
	if text.String() != localmodel.Banner {
		t.Errorf("streamed %q before hanging, want the banner", text.String())
	}
}

func TestQuotaRefusesCallsBeyondTheConcurrencyLimit(t *testing.T) {
	t.Parallel()
	m := localmodel.New(localmodel.Options{TokensPerSecond: 1000, MaxConcurrent: 2})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := m.Generate(ctx, jobs.Request{Prompt: "promptq-fault:hang", MaxTokens: 50}, func(string) {
				select {
				case started <- struct{}{}:
				default:
				}
			})
			done <- err
		}()
	}
	<-started
	<-started
	_, err := m.Generate(t.Context(), jobs.Request{Prompt: "third", MaxTokens: 50}, func(string) {})
	if jobs.KindOf(err) != jobs.KindRateLimited {
		t.Fatalf("a third call while two run = %v, want a rate-limit error", err)
	}
	cancel()
	<-done
	<-done
	if _, err := m.Generate(t.Context(), jobs.Request{Prompt: "after", MaxTokens: 5}, func(string) {}); err != nil {
		t.Errorf("a call once the others ended: %v", err)
	}
	st := m.Stats()
	if st.Throttled != 1 || st.Calls != 3 || st.MaxRunning != 2 {
		t.Errorf("stats = %+v, want 3 calls, 1 throttled, at most 2 at once", st)
	}
}

func TestQuotaCountsTokensInASlidingMinute(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m := localmodel.New(localmodel.Options{TokensPerSecond: 1e6, TokensPerMinute: 500, Now: clock})
	req := jobs.Request{Prompt: "one two three four", MaxTokens: 200} // reserves 204
	call := func() error {
		_, err := m.Generate(t.Context(), req, func(string) {})
		return err
	}
	// A call's reservation becomes its use when it ends (4 + up to 160
	// words, well under 204): two fit, and their use leaves room for a
	// third reservation only if it is small enough.
	if err := call(); err != nil {
		t.Fatal(err)
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	used := m.Stats().Tokens
	if used > 2*164 || used < 2*44 {
		t.Fatalf("two calls used %d tokens", used)
	}
	for used+204 <= 500 {
		if err := call(); err != nil {
			t.Fatalf("a call that fits the minute: %v", err)
		}
		used = m.Stats().Tokens
	}
	if err := call(); jobs.KindOf(err) != jobs.KindRateLimited {
		t.Fatalf("a call past the minute's quota = %v, want a rate-limit error", err)
	}
	advance(59 * time.Second)
	if err := call(); jobs.KindOf(err) != jobs.KindRateLimited {
		t.Errorf("59 s later the minute still holds the calls, but the call ran: %v", err)
	}
	advance(2 * time.Second)
	if err := call(); err != nil {
		t.Errorf("61 s later the calls have left the minute: %v", err)
	}
	if st := m.Stats(); st.Throttled != 2 {
		t.Errorf("stats = %+v, want 2 throttled", st)
	}
}

func TestEchoWritesTheRestOfThePromptVerbatim(t *testing.T) {
	t.Parallel()
	body := "# Title\n\n```go\n    indented()\n```\n\n| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |"
	req := jobs.Request{Prompt: "Show this.\npromptq-echo\n" + body, MaxTokens: 1024}
	p, deltas, err := generate(t, fast(), req)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if want := localmodel.Banner + "\n\n" + body; p.GeneratedText != want {
		t.Errorf("text:\n%q\nwant\n%q", p.GeneratedText, want)
	}
	if got := strings.Join(deltas, ""); got != p.GeneratedText {
		t.Errorf("deltas join to %q, want the text", got)
	}
	if want := len(strings.Fields(p.GeneratedText)); p.Tokens.Output != want || len(deltas) != want {
		t.Errorf("%d output tokens and %d deltas, want %d (one a word)", p.Tokens.Output, len(deltas), want)
	}

	// Without the marker on a line of its own, the answer is filler.
	p, _, err = generate(t, fast(), jobs.Request{Prompt: "say promptq-echo please", MaxTokens: 1024})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if !strings.Contains(p.GeneratedText, "filler text") {
		t.Errorf("marker inside a line echoed: %q", p.GeneratedText)
	}
}

const (
	haiku55 = "us.anthropic.claude-haiku-5-5"
	haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
)

// The local model answers a request as its model on Bedrock does: a Claude
// 5.5 model refuses a temperature and a prefill, with Bedrock's message in
// the error internal/bedrock makes of it (never retried), before writing
// or billing anything; what a model takes, it answers.
func TestTheModelsRulesRefuseWhatBedrockRefuses(t *testing.T) {
	t.Parallel()
	half := 0.5
	tests := []struct {
		name    string
		req     jobs.Request
		wantMsg string // "": answered
	}{
		{"temperature on Haiku 5.5", jobs.Request{Model: haiku55, Temperature: &half}, catalogue.SamplingRejection("temperature")},
		{"a prefill on Haiku 5.5", jobs.Request{Model: haiku55, Continue: "So far", ContinueBy: catalogue.Prefill}, catalogue.PrefillRejection},
		{"a user turn on Haiku 5.5", jobs.Request{Model: haiku55, Continue: "So far", ContinueBy: catalogue.UserTurn}, ""},
		{"temperature and a prefill on Haiku 4.5", jobs.Request{Model: haiku45, Temperature: &half, Continue: "So far", ContinueBy: catalogue.Prefill}, ""},
		{"temperature and a prefill on the local model", jobs.Request{Model: localmodel.ID, Temperature: &half, Continue: "So far", ContinueBy: catalogue.Prefill}, ""},
	}
	for _, tt := range tests {
		req := tt.req
		req.Prompt, req.MaxTokens = "Write.", 100
		p, deltas, err := generate(t, fast(), req)
		if tt.wantMsg == "" {
			if err != nil || p.StopReason == "" || len(deltas) == 0 {
				t.Errorf("%s: %+v, %v; want an answer", tt.name, p, err)
			}
			continue
		}
		var v *localmodel.ValidationError
		if jobs.KindOf(err) != jobs.KindInvalid || worker.Retryable(err) || !errors.As(err, &v) || v.Message != tt.wantMsg {
			t.Errorf("%s: error %v; want a permanent KindInvalid with %q", tt.name, err, tt.wantMsg)
		}
		var e *jobs.Error
		if errors.As(err, &e) && e.Message != "The model rejected the request: "+tt.wantMsg {
			t.Errorf("%s: message %q, not as internal/bedrock words Bedrock's", tt.name, e.Message)
		}
		if len(deltas) != 0 || p.Tokens.Total() != 0 {
			t.Errorf("%s: a refused call wrote %q, tokens %+v", tt.name, deltas, p.Tokens)
		}
	}
}

// A call given the start of its answer writes the rest, the way its model
// continues, and the calls together write the whole answer once:
//
//   - given a prefilled assistant turn (trailing whitespace and all, as a
//     stored answer may end), the rest exactly: the same text, and as
//     many output tokens, as one uninterrupted call;
//   - asked in a user turn to go on (a model that takes no prefill), the
//     rest exactly too; with promptq-fault:repeat, from RepeatWords words
//     back: joined without the repetition (jobs.Join), the same text, and
//     as output its words and the few each call wrote again.
//
// Each call pays its text so far (and the request to go on) as input.
func TestAContinuedAnswerIsWrittenWholeOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		model  string
		by     catalogue.Continuation
		repeat bool
	}{
		{"a prefill", "m", catalogue.Prefill, false},
		{"a user turn", haiku55, catalogue.UserTurn, false},
		{"a user turn that repeats", haiku55, catalogue.UserTurn, true},
	} {
		req := jobs.Request{Prompt: "Tell me about queues, please.", Model: tc.model, MaxTokens: 1000}
		if tc.repeat {
			req.Prompt += " promptq-fault:repeat"
		}
		whole, _, err := generate(t, fast(), req)
		if err != nil {
			t.Fatal(err)
		}
		var text string
		output, calls := 0, 0
		for calls = 1; calls < 100; calls++ {
			r := req
			r.Continue, r.ContinueBy = text, tc.by
			if tc.by == catalogue.Prefill && text != "" {
				r.Continue += " "
			}
			r.MaxTokens = 15
			p, deltas, err := generate(t, fast(), r)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(deltas, ""); got != p.GeneratedText {
				t.Fatalf("%s: deltas %q, result %q", tc.name, got, p.GeneratedText)
			}
			words := strings.Fields(text)
			wantInput := len(strings.Fields(req.Prompt)) + len(words)
			if calls > 1 && tc.by == catalogue.UserTurn {
				wantInput += len(strings.Fields(jobs.ContinueTurn))
			}
			if calls > 1 && tc.repeat {
				if repeat := strings.Join(words[len(words)-localmodel.RepeatWords:], " "); !strings.HasPrefix(p.GeneratedText, " "+repeat+" ") {
					t.Errorf("%s: call %d starts %q, want it to start again with %q", tc.name, calls, p.GeneratedText, repeat)
				}
			}
			if p.Tokens.Input != wantInput {
				t.Errorf("%s: call %d: input %d, want %d (prompt, text so far, a request to go on)", tc.name, calls, p.Tokens.Input, wantInput)
			}
			if p.Tokens.Output != len(deltas) {
				t.Errorf("%s: call %d: output %d for %d words written", tc.name, calls, p.Tokens.Output, len(deltas))
			}
			text = jobs.Join(text, p.GeneratedText, tc.by, true)
			output += p.Tokens.Output
			if p.StopReason == localmodel.StopEndTurn {
				break
			}
		}
		again := 0
		if tc.repeat {
			again = localmodel.RepeatWords * (calls - 1)
		}
		if text != whole.GeneratedText || calls < 3 || output != whole.Tokens.Output+again {
			t.Errorf("%s: %d calls wrote %d tokens, %q; want %d tokens, %q", tc.name, calls, output, text, whole.Tokens.Output+again, whole.GeneratedText)
		}
	}
}

// Continuing from only a word or two, too short for the worker to take a
// repetition for one, the model goes on exactly where the text stopped.
func TestAUserTurnContinuationAfterAFewBytesRepeatsNothing(t *testing.T) {
	t.Parallel()
	req := jobs.Request{Prompt: "Hi.", Model: haiku55, MaxTokens: 1000}
	whole, _, err := generate(t, fast(), req)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Fields(whole.GeneratedText)[0] // "[promptq", 8 bytes
	req.Continue, req.ContinueBy = first, catalogue.UserTurn
	p, _, err := generate(t, fast(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first+p.GeneratedText != whole.GeneratedText {
		t.Errorf("went on with %q after %q, want the rest of %q", p.GeneratedText, first, whole.GeneratedText)
	}
}

// A model that thinks at the request's effort (jobs.Request.Params) spends
// ThinkingTokens of output before its first word, streaming nothing for
// them; thinking counts against max_tokens.
func TestAThinkingModelPaysForItsThinking(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		model     string
		effort    string
		maxTokens int
		thinking  int
	}{
		{"Haiku 5.5 at medium thinks not", haiku55, "medium", 1000, 0},
		{"Haiku 5.5 at max thinks", haiku55, "max", 1000, 128},
		{"Opus 5.5 always thinks", "us.anthropic.claude-opus-5-5", "low", 1000, 8},
		{"thinking counts against max_tokens", haiku55, "xhigh", 10, 10},
		{"Haiku 4.5 does not think", haiku45, "", 1000, 0},
	}
	for _, tt := range tests {
		req := jobs.Request{Prompt: "Think, then write.", Model: tt.model, Effort: tt.effort, MaxTokens: tt.maxTokens}
		p, deltas, err := generate(t, fast(), req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		words := len(strings.Fields(p.GeneratedText))
		if p.Tokens.Output != words+tt.thinking || len(deltas) != words {
			t.Errorf("%s: output %d for %d words in %d deltas, want %d thinking tokens more", tt.name, p.Tokens.Output, words, len(deltas), tt.thinking)
		}
		if tt.thinking == tt.maxTokens && (words != 0 || p.StopReason != localmodel.StopMaxTokens) {
			t.Errorf("%s: %d words, stop %q; want none, max_tokens", tt.name, words, p.StopReason)
		}
	}
}

// promptq-fault:refuse: some text streams, then the model declines
// (jobs.Refused, never retried), returning the text and the tokens it
// used, which are billed.
func TestARefusalFaultDeclinesAfterSomeText(t *testing.T) {
	t.Parallel()
	p, deltas, err := generate(t, fast(), jobs.Request{Prompt: "Write promptq-fault:refuse", Model: haiku55, MaxTokens: 500})
	if !errors.Is(err, jobs.ErrRefused) || jobs.KindOf(err) != jobs.KindInvalid || worker.Retryable(err) {
		t.Fatalf("error %v, want a refusal that is not retried", err)
	}
	if len(deltas) == 0 || p.GeneratedText != strings.Join(deltas, "") || p.Tokens.Output != len(deltas) || p.Tokens.Input != 2 {
		t.Errorf("refused after %d deltas with %+v; want the text and tokens so far", len(deltas), p)
	}
	if p.StopReason != jobs.StopRefusal {
		t.Errorf("stop reason %q, want %q", p.StopReason, jobs.StopRefusal)
	}
}
