package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/bedrock"
	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/bedrocktest"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/jobs"
)

const labelSchema = `{"type":"object","properties":{"label":{"type":"string","enum":["spam","ham"]}},"required":["label"],"additionalProperties":false}`

func labelFormat() *jobs.ResponseFormat {
	return &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Name: "label", Schema: []byte(labelSchema)}
}

// A job with a response format succeeds with an answer that conforms,
// which the local model writes, at the first try.
func TestWireAnAnswerThatConformsSucceeds(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 3})
	wk := newWorker(t, w, fast(), wireConfig(3))
	j := w.submitJob(jobs.Job{Prompt: "Is this spam?", Model: haiku55, MaxTokens: 100, ResponseFormat: labelFormat()})
	w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
	got := w.job(j.ID)
	if got.Status != jobs.StatusSucceeded || got.Attempts != 1 {
		t.Fatalf("job %s %+v after %d attempts, want succeeded after 1", got.Status, got.Failure, got.Attempts)
	}
	if _, err := got.ResponseFormat.Check(got.GeneratedText); err != nil {
		t.Errorf("the answer %q: %v", got.GeneratedText, err)
	}
}

// An answer that does not conform is tried once more from the start, the
// schema sent again, as a new attempt whose tokens add to the job's; a
// second that does not conform fails the job with invalid_output and the
// validation error, its answer kept. One that conforms at the second try
// succeeds with it alone.
func TestWireAnAnswerThatDoesNotConformIsTriedOnceMoreThenFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		answers []string
		want    jobs.Status
	}{
		{"twice", []string{`{"label": "eggs"}`, `{"label": "spam", "why": "x"}`}, jobs.StatusFailed},
		{"once", []string{`{"label": "eggs"}`, `{"label": "ham"}`}, jobs.StatusSucceeded},
		{"not JSON, then JSON", []string{`Sure! {"label": "ham"}`, `{"label": "ham"}`}, jobs.StatusSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := setupWire(t, wireOptions{maxReceiveCount: 3})
			var sent []*bedrocktest.Request
			srv := bedrocktest.NewServer(t, bedrocktest.ModelRules(func(rw *bedrocktest.Response, r *bedrocktest.Request) {
				sent = append(sent, r)
				rw.Answer([]string{tc.answers[min(r.Call, len(tc.answers))-1]}, "end_turn", 10, 5)
			}))
			cfg := wireConfig(3)
			wk := newWorker(t, w, bedrock.New(srv.Client(1), bedrock.Options{}), cfg)
			j := w.submitJob(jobs.Job{Prompt: "Is this spam?", Model: haiku55, MaxTokens: 100, ResponseFormat: labelFormat()})
			var waited *jobs.Wait
			w.pollUntil(wk.Handle, func() bool {
				got := w.job(j.ID)
				if got.Waiting != nil {
					waited = got.Waiting
				}
				return got.Status.Terminal()
			})
			got := w.job(j.ID)
			if got.Status != tc.want || srv.Calls() != 2 || got.Attempts != 2 {
				t.Fatalf("job %s %+v after %d calls, %d attempts; want %s after 2", got.Status, got.Failure, srv.Calls(), got.Attempts, tc.want)
			}
			for i, r := range sent {
				if string(r.Schema) != labelSchema || len(r.Messages) != 1 {
					t.Errorf("call %d sent schema %s and %d turns; want the schema and the prompt alone", i+1, r.Schema, len(r.Messages))
				}
			}
			if got.Tokens != (jobs.Tokens{Input: 20, Output: 10}) {
				t.Errorf("tokens %+v, want both calls'", got.Tokens)
			}
			if waited == nil || waited.Reason != jobs.WaitRetry || waited.Try != 1 || waited.Tries != 2 || !strings.Contains(waited.Error, "answer") {
				t.Errorf("while it waited the job said %+v, want a retry, try 1 of 2, and why", waited)
			}
			last := tc.answers[len(tc.answers)-1]
			switch {
			case got.GeneratedText != last:
				t.Errorf("text %q, want the last answer alone, %q", got.GeneratedText, last)
			case tc.want == jobs.StatusFailed && (got.Failure == nil || got.Failure.Code != jobs.FailureInvalidOutput ||
				!strings.Contains(got.Failure.Message, "does not conform to the schema") || !strings.Contains(got.Failure.Message, "after 2 tries")):
				t.Errorf("failure %+v, want invalid_output with the validation error", got.Failure)
			}
			if n := w.queueDepth(w.queueURL); n != 0 {
				t.Errorf("%d messages left on the queue", n)
			}
		})
	}
}

// A JSON answer that takes several invocations (the Lambda deadline cuts
// each) is continued, the way each model continues, into one value that
// conforms.
func TestWireAJSONAnswerCutByTheDeadlineContinuesIntoOneValue(t *testing.T) {
	t.Parallel()
	schema := `{"type":"object","properties":{"words":{"type":"array","items":{"type":"string"},"minItems":60}},"required":["words"]}`
	for _, tc := range []struct {
		model string
		by    catalogue.Continuation
	}{{haiku45, catalogue.Prefill}, {haiku55, catalogue.UserTurn}} {
		t.Run(string(tc.by), func(t *testing.T) {
			t.Parallel()
			w := setupWire(t, wireOptions{maxReceiveCount: 10})
			cfg := wireConfig(10)
			cfg.DeadlineMargin = 100 * time.Millisecond
			wk := newWorker(t, w, localmodel.New(localmodel.Options{TokensPerSecond: longAnswerPace}), cfg)
			f := &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Schema: []byte(schema)}
			j := w.submitJob(jobs.Job{Prompt: "List words.", Model: tc.model, MaxTokens: 1000, ResponseFormat: f})
			w.runWithDeadlines(wk, 500*time.Millisecond, j.ID)
			got := w.job(j.ID)
			if got.Status != jobs.StatusSucceeded || got.Continuations < 2 {
				t.Fatalf("job %s %+v with %d continuations, want succeeded after several", got.Status, got.Failure, got.Continuations)
			}
			if _, err := f.Check(got.GeneratedText); err != nil || got.Tokens.Output != len(strings.Fields(got.GeneratedText)) {
				t.Errorf("answer %q (%d output tokens): %v", got.GeneratedText, got.Tokens.Output, err)
			}
		})
	}
}
