package worker_test

// Over-the-wire tests of what each model accepts (issue 27): the worker on
// kumo with the local model, and with the Bedrock adapter against the fake
// endpoint answering as the request's model does (bedrocktest.ModelRules).

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/bedrocktest"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

const (
	// haiku45 takes a temperature and a prefill; haiku55 neither, and
	// continues from a user turn.
	haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	haiku55 = "us.anthropic.claude-haiku-5-5"
)

// call is one Generate call as callLog saw it.
type call struct {
	req jobs.Request
	p   jobs.Progress
	err error
}

// callLog records every Generate call.
type callLog struct {
	worker.Model
	mu    sync.Mutex
	calls []call
}

func (m *callLog) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	p, err := m.Model.Generate(ctx, req, onDelta)
	m.mu.Lock()
	m.calls = append(m.calls, call{req, p, err})
	m.mu.Unlock()
	return p, err
}

func (m *callLog) all() []call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// watch reads job id's text as a client polling it does, until the
// returned stop is called, which gives the distinct texts seen, in order.
func (w *wire) watch(id string) (stop func() []string) {
	done, finished := make(chan struct{}), make(chan struct{})
	var seen []string
	go func() {
		defer close(finished)
		for {
			if j, err := w.store.Get(context.Background(), owner, id); err == nil && (len(seen) == 0 || seen[len(seen)-1] != j.GeneratedText) {
				seen = append(seen, j.GeneratedText)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		close(done)
		<-finished
		return seen
	}
}

// runWithDeadlines delivers messages to wk one at a time, each invocation
// with the deadline d as Lambda's timeout sets it, until job id has ended.
func (w *wire) runWithDeadlines(wk *worker.Worker, d time.Duration, id string) {
	w.t.Helper()
	for !w.job(id).Status.Terminal() {
		if w.t.Context().Err() != nil {
			w.t.Fatal("test ended before the job did")
		}
		ev, ok := w.receive(w.t.Context(), 1)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(w.t.Context(), d)
		resp, err := wk.Handle(ctx, ev)
		cancel()
		if err != nil {
			w.t.Fatalf("handler error: %v", err)
		}
		w.settle(ev, resp)
	}
}

// modelBehind answers the fake endpoint's requests with the local model,
// as a model behind Bedrock: the prompt, and the text so far the way the
// conversation gives it (a final assistant turn: a prefill; an assistant
// turn then a user turn: a request to go on). A client that goes away
// (the worker's deadline) cuts the stream.
func modelBehind(lm *localmodel.Model) bedrocktest.Handler {
	return func(w *bedrocktest.Response, r *bedrocktest.Request) {
		req := jobs.Request{Model: r.ModelID, Prompt: r.Prompt, System: r.System, Effort: r.Effort}
		if r.MaxTokens != nil {
			req.MaxTokens = *r.MaxTokens
		}
		if n := len(r.Messages); n >= 2 {
			req.Continue, req.ContinueBy = r.Messages[1].Text, catalogue.Prefill
			if r.Messages[n-1].Role == "user" {
				req.ContinueBy = catalogue.UserTurn
			}
		}
		p, err := lm.Generate(w.Context(), req, w.Delta)
		if err != nil {
			return
		}
		w.Finish(p.StopReason, p.Tokens.Input, p.Tokens.Output)
	}
}

// An answer longer than three worker deadlines finishes on a model that
// continues a prefilled turn (Claude Haiku 4.5) and on one that continues
// from a user turn (Claude Haiku 5.5) alike, with the local model behind
// the worker as make dev runs it: the job succeeds with the whole answer
// once (the banner once), a client polling it never sees its text shrink,
// each continuation goes the model's way and pays its text so far as
// input, and output is never paid twice: the job's output tokens are the
// words of its text; with a model that starts each continuation a few
// words back (promptq-fault:repeat), those and the few words (at most
// localmodel.RepeatWords) each continuation wrote again and the worker
// dropped (jobs.Join).
func TestWireAnAnswerOfThreeDeadlinesFinishesOnEveryModel(t *testing.T) {
	t.Parallel()
	for _, tc := range longAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model := &callLog{Model: localmodel.New(localmodel.Options{TokensPerSecond: longAnswerPace})}
			got := longAnswer(t, tc, model)
			calls := model.all()
			continued, repeated, input, output := 0, 0, 0, 0
			for i, c := range calls {
				after := got.GeneratedText
				if i+1 < len(calls) {
					after = calls[i+1].req.Continue
				}
				before := c.req.Continue
				wantInput := len(strings.Fields(c.req.Prompt)) + len(strings.Fields(before))
				if before != "" {
					continued++
					if c.req.ContinueBy != tc.by {
						t.Errorf("call %d continued by %q, want %q", i+1, c.req.ContinueBy, tc.by)
					}
					if tc.by == catalogue.UserTurn {
						wantInput += len(strings.Fields(jobs.ContinueTurn))
					}
				}
				if c.p.Tokens.Input != wantInput {
					t.Errorf("call %d paid %d input tokens, want %d: the prompt and the text so far", i+1, c.p.Tokens.Input, wantInput)
				}
				// What the call paid as output beyond what it added to
				// the answer: words it wrote again.
				again := c.p.Tokens.Output - (len(strings.Fields(after)) - len(strings.Fields(before)))
				if again < 0 || !tc.repeat && again != 0 || again > localmodel.RepeatWords {
					t.Errorf("call %d paid %d output tokens for %d new words", i+1, c.p.Tokens.Output, len(strings.Fields(after))-len(strings.Fields(before)))
				}
				repeated += again
				input += c.p.Tokens.Input
				output += c.p.Tokens.Output
			}
			if continued < 3 || got.Continuations != continued {
				t.Errorf("%d continuations, %d calls continued; want at least 3, each counted", got.Continuations, continued)
			}
			words := len(strings.Fields(got.GeneratedText))
			if got.Tokens.Input != input || got.Tokens.Output != output || output != words+repeated {
				t.Errorf("job tokens %+v; want the calls' %d input, %d output: its %d words and %d written again",
					got.Tokens, input, output, words, repeated)
			}
			if tc.repeat && repeated < localmodel.RepeatWords {
				t.Errorf("no continuation started again before where the text stopped (%d words again): the join was not exercised", repeated)
			}
			t.Logf("%d calls, %d continuations, %d words, %d output tokens", len(calls), continued, words, output)
		})
	}
}

// The same over the wire to Bedrock's API: the adapter against the fake
// endpoint answering as the request's model does (a Claude 5.5 model
// refuses a prefill), the local model behind it. Each continuation sends
// the model's conversation: a final assistant turn with the text so far
// for Claude Haiku 4.5; that text as an earlier turn, then the request to
// go on, for Claude Haiku 5.5. The answer finishes whole; output is never
// paid twice (the calls cut off are charged their bytes streamed, a bound,
// so the job's output is at most the text's bytes and the few words
// written again, never the text again).
func TestWireAnAnswerOfThreeDeadlinesFinishesOnBedrock(t *testing.T) {
	t.Parallel()
	for _, tc := range longAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu   sync.Mutex
				reqs []*bedrocktest.Request
			)
			lm := modelBehind(localmodel.New(localmodel.Options{TokensPerSecond: longAnswerPace}))
			srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(rw *bedrocktest.Response, r *bedrocktest.Request) {
				mu.Lock()
				reqs = append(reqs, r)
				mu.Unlock()
				lm(rw, r)
			}))
			got := longAnswer(t, tc, bedrock.New(srv.Client(1), bedrock.Options{}))
			mu.Lock()
			defer mu.Unlock()
			continued, soFar := 0, 0
			for i, r := range reqs {
				if len(r.Messages) == 1 {
					continue
				}
				continued++
				text := r.Messages[1].Text
				want := []bedrocktest.Message{{Role: "user", Text: tc.prompt()}, {Role: "assistant", Text: text}}
				if tc.by == catalogue.UserTurn {
					want = append(want, bedrocktest.Message{Role: "user", Text: jobs.ContinueTurn})
				}
				if !slices.Equal(r.Messages, want) || !strings.HasPrefix(got.GeneratedText, text) || text != jobs.Prefill(text) {
					t.Errorf("call %d sent %q; want the prompt, the answer's start, trimmed, the model's way (%s)", i+1, r.Messages, tc.by)
				}
				soFar += len(strings.Fields(text))
			}
			if continued < 3 || got.Continuations != continued {
				t.Errorf("%d continuations, %d calls continued; want at least 3, each counted", got.Continuations, continued)
			}
			// A word written again is at most its bytes and the whitespace
			// before it ("\n\n" at most).
			longest := 0
			for _, f := range strings.Fields(got.GeneratedText) {
				longest = max(longest, len(f)+2)
			}
			words, bytes := len(strings.Fields(got.GeneratedText)), len(got.GeneratedText)
			if out := got.Tokens.Output; out < words || out > bytes+continued*localmodel.RepeatWords*longest {
				t.Errorf("output tokens %d for a text of %d words, %d bytes over %d continuations: paid twice?", out, words, bytes, continued)
			}
			if got.Tokens.Input < soFar {
				t.Errorf("input tokens %d, less than the %d words of text so far the continuations sent", got.Tokens.Input, soFar)
			}
			t.Logf("%d calls, %d continuations, tokens %+v", len(reqs), continued, got.Tokens)
		})
	}
}

// longAnswerCases are a model that continues a prefilled turn and one that
// continues from a user turn.
var longAnswerCases = []longAnswerCase{
	{"a prefill model, Claude Haiku 4.5", haiku45, "", catalogue.Prefill, false},
	{"a user-turn model, Claude Haiku 5.5", haiku55, "medium", catalogue.UserTurn, false},
	{"a user-turn model that repeats a few words", haiku55, "medium", catalogue.UserTurn, true},
}

type longAnswerCase struct {
	name, model, effort string
	by                  catalogue.Continuation
	// repeat has the local model start each user-turn continuation a few
	// words back (promptq-fault:repeat), for the worker to drop.
	repeat bool
}

// prompt is the case's prompt: longAnswerPrompt, with the repeat fault.
func (tc longAnswerCase) prompt() string {
	if tc.repeat {
		return "promptq-fault:repeat\n" + longAnswerPrompt
	}
	return longAnswerPrompt
}

// longAnswerPace is the local model's words a second: stopped 400 ms into
// each invocation (longAnswer), it writes longAnswerPrompt's answer of 110
// words in at least six.
const longAnswerPace = 50

// longAnswerPrompt has the local model echo 100 distinct words.
var longAnswerPrompt = "promptq-echo\n" + echoAnswer(100)

// longAnswer runs a job of longAnswerPrompt on tc's model through a worker
// calling m, each invocation's deadline 500 ms away and its margin 100 ms,
// watching it as a client does, until it ends. It fails t unless the job
// succeeded with the banner and the answer, once, and the client never saw
// its text shrink or change, and returns the job.
func longAnswer(t *testing.T, tc longAnswerCase, m worker.Model) jobs.Job {
	t.Helper()
	w := setupWire(t, wireOptions{maxReceiveCount: 10})
	cfg := wireConfig(10)
	cfg.DeadlineMargin = 100 * time.Millisecond
	wk := newWorker(t, w, m, cfg)
	j := w.submitJob(jobs.Job{Prompt: tc.prompt(), Model: tc.model, Effort: tc.effort, MaxTokens: 1000})
	stop := w.watch(j.ID)
	w.runWithDeadlines(wk, 500*time.Millisecond, j.ID)
	seen := stop()
	got := w.job(j.ID)
	want := localmodel.Banner + "\n\n" + strings.TrimPrefix(longAnswerPrompt, "promptq-echo\n")
	if got.Status != jobs.StatusSucceeded || got.GeneratedText != want || strings.Count(got.GeneratedText, localmodel.Banner) != 1 {
		t.Fatalf("job %s %+v with text %q; want succeeded with the banner and the answer, once", got.Status, got.Failure, got.GeneratedText)
	}
	for i := 1; i < len(seen); i++ {
		if !strings.HasPrefix(seen[i], seen[i-1]) {
			t.Errorf("the text went back: %q, then %q", seen[i-1], seen[i])
		}
	}
	if len(seen) < 4 {
		t.Errorf("a client saw %d texts, want the answer growing", len(seen))
	}
	return got
}

// echoAnswer is n distinct words, for the local model to echo.
func echoAnswer(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("w%03d", i)
	}
	return strings.Join(words, " ")
}

// A Claude 5.5 model that declines (stop reason refusal): the job fails
// with code refused and the model's reason, after one call (a refusal is
// not retried), keeps the text it had, and is charged what Bedrock
// reported, its reservation settled.
func TestWireARefusalFailsTheJobChargedWhatBedrockReported(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 3})
	srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(rw *bedrocktest.Response, r *bedrocktest.Request) {
		rw.Delta("I can help with ")
		rw.Refuse("cyber", "It asks for working malware.", 17, 4)
	}))
	cfg := wireConfig(3)
	cfg.QueueURLs = w.backend.QueueURLs
	wk, err := worker.New(w.store, w.queue, bedrock.New(srv.Client(3), bedrock.Options{}), cfg,
		worker.Options{Meter: w.store, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := jobs.Request{Prompt: "Write malware.", Model: haiku55, Effort: "medium", MaxTokens: 100}
	r, err := w.store.Reserve(t.Context(), owner, jobs.Cost{Jobs: 1, Tokens: req.WorstCaseTokens()}, jobs.Budgets{TokensPerDay: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	j := w.submitJob(jobs.Job{Prompt: req.Prompt, Model: req.Model, Effort: req.Effort, MaxTokens: req.MaxTokens,
		Budget: jobs.Budget{Day: r.Day, Reserved: req.WorstCaseTokens()}})
	w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })

	got := w.job(j.ID)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailureRefused ||
		!strings.Contains(got.Failure.Message, "It asks for working malware. (category: cyber)") {
		t.Fatalf("job %s %+v, want failed with code %s and the model's reason", got.Status, got.Failure, jobs.FailureRefused)
	}
	if srv.Calls() != 1 || got.Attempts != 1 {
		t.Errorf("%d model calls over %d attempts, want 1: a refusal is not retried", srv.Calls(), got.Attempts)
	}
	if got.Tokens != (jobs.Tokens{Input: 17, Output: 4}) || got.GeneratedText != "I can help with " {
		t.Errorf("job kept %q, tokens %+v; want the text and the tokens Bedrock reported", got.GeneratedText, got.Tokens)
	}
	if got.Budget.Charged != 21 || !got.Budget.Settled {
		t.Errorf("budget %+v, want the 21 tokens Bedrock reported charged, and settled", got.Budget)
	}
	if n := w.queueDepth(w.queueURL); n != 0 {
		t.Errorf("%d messages left: a refusal must be acknowledged", n)
	}
}

// A temperature for a model that takes none, from a client that wrote the
// job past the API's check: the local model refuses it as Bedrock does, so
// the job fails at once (one call, not retried) with Bedrock's message,
// and nothing is billed. The Bedrock adapter never sends it (defence in
// depth), so there the model, answering as Claude Haiku 5.5 does, runs the
// job.
func TestWireATemperatureForAModelThatTakesNone(t *testing.T) {
	t.Parallel()
	half := 0.5
	job := jobs.Job{Prompt: "Say hi.", Model: haiku55, Effort: "medium", MaxTokens: 50, Temperature: &half}

	t.Run("the local model refuses it", func(t *testing.T) {
		t.Parallel()
		w := setupWire(t, wireOptions{maxReceiveCount: 3})
		model := &countingModel{Model: fast()}
		wk := newWorker(t, w, model, wireConfig(3))
		j := w.submitJob(job)
		w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
		got := w.job(j.ID)
		want := jobs.Failure{Code: jobs.FailureModel, Message: "The model rejected the request: " + catalogue.SamplingRejection("temperature")}
		if got.Status != jobs.StatusFailed || got.Failure == nil || *got.Failure != want {
			t.Fatalf("job %s %+v, want failed with %+v", got.Status, got.Failure, want)
		}
		if model.calls.Load() != 1 || got.Tokens.Total() != 0 || got.GeneratedText != "" {
			t.Errorf("%d calls, tokens %+v, text %q; want one call, nothing billed or written", model.calls.Load(), got.Tokens, got.GeneratedText)
		}
	})

	t.Run("the Bedrock adapter leaves it out", func(t *testing.T) {
		t.Parallel()
		w := setupWire(t, wireOptions{maxReceiveCount: 3})
		var sent *bedrocktest.Request
		srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(rw *bedrocktest.Response, r *bedrocktest.Request) {
			sent = r
			rw.Answer([]string{"Hi."}, "end_turn", 3, 2)
		}))
		wk := newWorker(t, w, bedrock.New(srv.Client(1), bedrock.Options{}), wireConfig(3))
		j := w.submitJob(job)
		w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
		if got := w.job(j.ID); got.Status != jobs.StatusSucceeded || got.GeneratedText != "Hi." || sent == nil || sent.Temperature != nil {
			t.Errorf("job %s %q %+v; want it succeeded, sent without a temperature", got.Status, got.GeneratedText, got.Failure)
		}
	})
}
