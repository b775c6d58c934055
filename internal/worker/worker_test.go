package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

func TestASuccessfulJobIsFinishedWithTheModelsResult(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	job := newJob(1)
	temp := 0.5
	job.Temperature = &temp
	result := jobs.Progress{GeneratedText: "Hello, world", Tokens: jobs.Tokens{Input: 4, Output: 3}, StopReason: "end_turn"}
	b.store.ClaimFunc = claimReturns(t, job)
	b.model.GenerateFunc = func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		want := jobs.Request{Prompt: job.Prompt, System: job.System, MaxTokens: job.MaxTokens, Temperature: &temp, Model: job.Model}
		if req.Prompt != want.Prompt || req.System != want.System || req.MaxTokens != want.MaxTokens || req.Temperature != want.Temperature || req.Model != want.Model {
			t.Errorf("model request = %+v, want %+v", req, want)
		}
		onDelta("Hello, ")
		onDelta("world")
		return result, nil
	}
	var finished []jobs.Progress
	b.store.FinishFunc = func(_ context.Context, o, id string, attempt int, p jobs.Progress) error {
		if o != owner || id != job.ID || attempt != 1 {
			t.Errorf("Finish(%q, %q, %d)", o, id, attempt)
		}
		finished = append(finished, p)
		return nil
	}
	resp, err := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("BatchItemFailures = %v, want none", resp.BatchItemFailures)
	}
	// Nothing was stored before: the whole text is new, and only added.
	want := result
	want.Appended = true
	if !slices.Equal(finished, []jobs.Progress{want}) {
		t.Errorf("Finish got %+v, want one call with %+v", finished, want)
	}
	if _, changed := b.queue.visibility("rh-" + job.ID); changed {
		t.Error("visibility changed for an acknowledged message")
	}
}

// steppedModel makes b's model write the deltas the test sends on step,
// each acknowledged on applied once the worker has it, and end (with
// end_turn) when step is closed.
func steppedModel(b *bundle) (step chan string, applied chan struct{}) {
	step, applied = make(chan string), make(chan struct{})
	b.model.GenerateFunc = func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		var all string
		for d := range step {
			onDelta(d)
			all += d
			applied <- struct{}{}
		}
		return jobs.Progress{GeneratedText: all, StopReason: "end_turn"}, nil
	}
	return step, applied
}

// The flusher writes the text when it changed since the last write, or as
// a heartbeat once a third of the lease has passed; otherwise it skips.
func TestProgressIsWrittenWhenItChangedAndAsAHeartbeat(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	job := newJob(2)
	b.store.ClaimFunc = claimReturns(t, job)

	// Buffered: a tick's save may pick up a delta sent after the tick.
	saves := make(chan jobs.Progress, 10)
	b.store.SaveProgressFunc = func(ctx context.Context, o, id string, attempt int, p jobs.Progress, lease time.Duration) error {
		if attempt != 2 || lease != time.Minute {
			t.Errorf("SaveProgress attempt %d lease %s, want 2 and 1m", attempt, lease)
		}
		saves <- p
		return nil
	}
	step, applied := steppedModel(b) // the test feeds the model its deltas
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }

	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
		done <- resp
	}()

	var got []string
	expectSave := func(next time.Duration) {
		t.Helper()
		p := <-saves
		got = append(got, p.GeneratedText)
		// Each write says when the next is due (jobs.Job.TextDueAt).
		if want := b.clock.Now().Add(next); !p.TextDueAt.Equal(want) {
			t.Errorf("a write says the next is due at %v, want %v", p.TextDueAt, want)
		}
	}
	ctx := t.Context()
	feed := func(delta string) {
		step <- delta
		<-applied
	}
	feed("Hello")
	b.clock.Tick(ctx)
	expectSave(jobs.WatchedFlushInterval) // changed: just created, so watched
	b.clock.Tick(ctx)
	// unchanged and no heartbeat due: nothing to save. The next save must
	// carry the next text, not a repeat of "Hello".
	feed(" world")
	b.clock.Tick(ctx)
	expectSave(jobs.WatchedFlushInterval)
	b.clock.Advance(21 * time.Second) // past a third of the lease
	b.clock.Tick(ctx)
	expectSave(jobs.UnwatchedFlushInterval) // heartbeat with the same text; nobody polled it since its start
	close(step)
	resp := <-done

	if want := []string{"Hello", "Hello world", "Hello world"}; !slices.Equal(got, want) || len(saves) != 0 {
		t.Errorf("progress writes = %q and %d more, want %q", got, len(saves), want)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("BatchItemFailures = %v", resp.BatchItemFailures)
	}
}

// A job nobody polls, of either lane, keeps its new text back (here until
// a third of the 1-minute lease, the heartbeat, comes first); it reads
// whether someone polls it at most every watchCheck, and once someone
// does, its text is written at every tick. Each write says when the next
// is due.
func TestAJobIsWrittenOftenOnlyWhileSomeoneWatchesIt(t *testing.T) {
	t.Parallel()
	for _, lane := range []jobs.Lane{jobs.LaneBulk, jobs.LaneInteractive} {
		t.Run(string(lane), func(t *testing.T) {
			t.Parallel()
			testWrittenOftenOnlyWhileWatched(t, lane)
		})
	}
}

func testWrittenOftenOnlyWhileWatched(t *testing.T, lane jobs.Lane) {
	b := setup(t, testConfig())
	job := newJob(1)
	job.Lane = lane
	// Past the start an interactive job counts as watched for.
	job.CreatedAt = clockStart.Add(-jobs.InteractiveWatchedAtStart)
	b.store.ClaimFunc = claimReturns(t, job)
	saves := make(chan jobs.Progress, 10)
	b.store.SaveProgressFunc = func(_ context.Context, _, _ string, _ int, p jobs.Progress, _ time.Duration) error {
		saves <- p
		return nil
	}
	var watchReads atomic.Int64
	var watchedUntil atomic.Pointer[time.Time]
	watchedUntil.Store(&time.Time{})
	b.store.WatchedUntilFunc = func(context.Context, string, string) (time.Time, error) {
		watchReads.Add(1)
		return *watchedUntil.Load(), nil
	}
	step, applied := steppedModel(b)
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	done := make(chan struct{})
	go func() {
		_, _ = b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
		close(done)
	}()
	ctx := t.Context()
	// tick feeds a delta, lets time pass and fires a flush tick.
	tick := func(delta string, d time.Duration) {
		step <- delta
		<-applied
		b.clock.Advance(d)
		b.clock.Tick(ctx)
	}
	tick("one ", 0)
	tick("two ", 3*time.Second)
	tick("three ", 3*time.Second) // 6 s: past watchCheck, the mark is read
	tick("four ", 3*time.Second)
	// Unwatched for 9 s: nothing written (the next write, below, holds
	// all of it) and the mark read once, at 6 s.
	if n := watchReads.Load(); n != 1 {
		t.Fatalf("unwatched for 9 s: %d reads of the mark, want 1", n)
	}
	tick("five ", 12*time.Second) // 21 s: the heartbeat comes first
	if p := <-saves; p.GeneratedText != "one two three four five " || !p.TextDueAt.Equal(b.clock.Now().Add(jobs.UnwatchedFlushInterval)) {
		t.Errorf("the held-back write has %q, the next due at %v; want the next at most %v on", p.GeneratedText, p.TextDueAt, jobs.UnwatchedFlushInterval)
	}
	// Someone polls it: the next tick that is due to read the mark (the
	// last read was at 6 s) finds it, writes, and from then on every tick
	// with new text writes.
	until := b.clock.Now().Add(jobs.WatchFor)
	watchedUntil.Store(&until)
	tick("six ", 2*time.Second)
	if p := <-saves; p.GeneratedText != "one two three four five six " || !p.TextDueAt.Equal(b.clock.Now().Add(jobs.WatchedFlushInterval)) {
		t.Errorf("the first watched write has %q, the next due at %v; want the next a flush on", p.GeneratedText, p.TextDueAt)
	}
	tick("seven ", 0)
	if p := <-saves; p.GeneratedText != "one two three four five six seven " {
		t.Errorf("the second watched write has %q", p.GeneratedText)
	}
	tick("eight", 0)
	if p := <-saves; p.GeneratedText != "one two three four five six seven eight" {
		t.Errorf("the third watched write has %q", p.GeneratedText)
	}
	close(step)
	<-done
}

// A conflict at a flush means the job was cancelled (or taken over): the
// model is stopped, nothing more is written, the message is acknowledged.
func TestCancellationAtAFlushStopsTheModel(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	job := newJob(1)
	b.store.ClaimFunc = claimReturns(t, job)
	b.store.SaveProgressFunc = func(context.Context, string, string, int, jobs.Progress, time.Duration) error {
		return jobs.ErrConflict
	}
	b.store.GetFunc = func(context.Context, string, string) (jobs.Job, error) {
		j := job
		j.Status = jobs.StatusCancelled
		return j, nil
	}
	streaming := make(chan struct{})
	var stoppedBy error
	b.model.GenerateFunc = func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		onDelta("partial")
		close(streaming)
		<-ctx.Done() // a model that would go on forever
		stoppedBy = ctx.Err()
		return jobs.Progress{}, ctx.Err()
	}
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
		done <- resp
	}()
	<-streaming
	b.clock.Tick(t.Context())
	resp := <-done
	if !errors.Is(stoppedBy, context.Canceled) {
		t.Errorf("model stopped with %v, want context.Canceled", stoppedBy)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("BatchItemFailures = %v, want the message acknowledged", resp.BatchItemFailures)
	}
	// Finish, Fail and Release are nil: any call fails the test.
}

// What the worker does with each kind of model error, on a middle and on
// the last receive.
func TestModelErrorsAreRetriedOrFailedByKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		receive int
		// want
		retry      bool
		visibility time.Duration
		failure    *jobs.Failure // nil: no Fail
		released   bool
	}{
		{
			name: "invalid request fails the job", err: &jobs.Error{Kind: jobs.KindInvalid, Message: "The model rejected the request: too long."},
			receive: 1, failure: &jobs.Failure{Code: jobs.FailureModel, Message: "The model rejected the request: too long."},
		},
		{
			name: "access denied fails the job", err: &jobs.Error{Kind: jobs.KindUnauthorized, Message: "Not allowed."},
			receive: 2, failure: &jobs.Failure{Code: jobs.FailureModel, Message: "Not allowed."},
		},
		{
			name: "unknown model fails the job", err: &jobs.Error{Kind: jobs.KindNotFound, Message: "No such model."},
			receive: 1, failure: &jobs.Failure{Code: jobs.FailureModel, Message: "No such model."},
		},
		{
			name: "permanent error on the last receive is a model error", err: &jobs.Error{Kind: jobs.KindInvalid, Message: "Bad."},
			receive: 5, failure: &jobs.Failure{Code: jobs.FailureModel, Message: "Bad."},
		},

		{
			name: "unavailable on the third receive backs off longer", err: &jobs.Error{Kind: jobs.KindUnavailable, Message: "Down."},
			receive: 3, retry: true, visibility: 40 * time.Second, released: true,
		},
		{
			name: "unclassified error is retried", err: errBoom,
			receive: 4, retry: true, visibility: 80 * time.Second, released: true,
		},
		{
			name: "backoff is capped", err: errBoom,
			receive: 20, retry: true, visibility: 0, // receive 20 is past the last: failed, see below
			failure: &jobs.Failure{Code: jobs.FailureRetries, Message: "Gave up after 20 attempts. The last one failed with: An internal error occurred."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig())
			job := newJob(tt.receive)
			b.store.ClaimFunc = claimReturns(t, job)
			b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
				return jobs.Progress{}, tt.err
			}
			var failures []jobs.Failure
			b.store.FailFunc = func(_ context.Context, _, _ string, attempt int, f jobs.Failure) error {
				if attempt != job.Attempts {
					t.Errorf("Fail with attempt %d, want %d", attempt, job.Attempts)
				}
				failures = append(failures, f)
				return nil
			}
			released := false
			var releasedFor time.Duration
			var wait jobs.Wait
			b.store.ReleaseFunc = func(_ context.Context, _, _ string, attempt int, w jobs.Wait) error {
				released, releasedFor, wait = true, w.After, w
				return nil
			}
			resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, tt.receive)}})
			// A job given back to try again says so in the same write:
			// which try of how many failed, and why.
			if released && (wait.Reason != jobs.WaitRetry || wait.Try != tt.receive || wait.Tries != testConfig().MaxReceiveCount || wait.Error == "") {
				t.Errorf("released waiting %+v; want a retry, try %d of %d, with what failed", wait, tt.receive, testConfig().MaxReceiveCount)
			}

			if got := len(resp.BatchItemFailures) == 1; got != tt.retry {
				t.Errorf("reported failed = %v, want %v", got, tt.retry)
			}
			vis, changed := b.queue.visibility("rh-" + job.ID)
			if changed != tt.retry || vis != tt.visibility {
				t.Errorf("visibility = %s (changed %v), want %s (changed %v)", vis, changed, tt.visibility, tt.retry)
			}
			if released != tt.released {
				t.Errorf("released = %v, want %v", released, tt.released)
			}
			// The job records when its message comes back, so a replay
			// meanwhile sends no other.
			if released && releasedFor != tt.visibility {
				t.Errorf("released to come back after %s, want the message's %s", releasedFor, tt.visibility)
			}
			var want []jobs.Failure
			if tt.failure != nil {
				want = []jobs.Failure{*tt.failure}
			}
			if !slices.Equal(failures, want) {
				t.Errorf("Fail calls = %+v, want %+v", failures, want)
			}
		})
	}
}

func TestBackoffDoublesPerReceiveUpToTheCap(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	tests := []struct {
		receive int
		want    time.Duration
	}{
		{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{4, 80 * time.Second}, {5, 2 * time.Minute}, {64, 2 * time.Minute}, {1 << 30, 2 * time.Minute},
	}
	for _, tt := range tests {
		if got := b.w.backoff(tt.receive); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.receive, got, tt.want)
		}
	}
	// With the lowest jitter the delay is half: never less.
	b.w.jitter = func(int64) int64 { return 0 }
	if got := b.w.backoff(3); got != 20*time.Second {
		t.Errorf("backoff(3) with least jitter = %s, want 20s", got)
	}
}

// Messages whose job cannot be claimed: no model call in any case.
func TestUnclaimableJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		job        jobs.Job // what Claim returns with its error
		err        error
		receive    int
		retry      bool
		visibility time.Duration
	}{
		{name: "already succeeded (duplicate delivery)", job: jobs.Job{Status: jobs.StatusSucceeded}, err: jobs.ErrConflict, receive: 2},
		{name: "already failed", job: jobs.Job{Status: jobs.StatusFailed}, err: jobs.ErrConflict, receive: 1},
		{name: "cancelled before it ran", job: jobs.Job{Status: jobs.StatusCancelled}, err: jobs.ErrConflict, receive: 1},
		{name: "running in another worker, which holds its own message: this copy is dropped",
			job: jobs.Job{Status: jobs.StatusRunning, LeaseUntil: newManualClock().Now().Add(45 * time.Second)}, err: jobs.ErrConflict,
			receive: 2},
		{name: "running with a lapsed lease (a race): try again after a backoff",
			job: jobs.Job{Status: jobs.StatusRunning, LeaseUntil: newManualClock().Now().Add(-time.Hour)}, err: jobs.ErrConflict,
			receive: 2, retry: true, visibility: 20 * time.Second},
		{name: "no such job goes to the DLQ", err: jobs.ErrNotFound, receive: 1, retry: true, visibility: 0},
		{name: "store unavailable: back off", err: errBoom, receive: 2, retry: true, visibility: 20 * time.Second},
		{name: "store unavailable on the last receive: on to the DLQ", err: errBoom, receive: 5, retry: true, visibility: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig())
			job := newJob(1)
			b.store.ClaimFunc = func(context.Context, string, string, time.Duration) (jobs.Job, error) {
				return tt.job, tt.err
			}
			b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
				t.Error("the model was called for a job that was not claimed")
				return jobs.Progress{}, nil
			}
			resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, tt.receive)}})
			if got := len(resp.BatchItemFailures) == 1; got != tt.retry {
				t.Errorf("reported failed = %v, want %v", got, tt.retry)
			}
			vis, changed := b.queue.visibility("rh-" + job.ID)
			if changed != tt.retry || vis != tt.visibility {
				t.Errorf("visibility = %s (changed %v), want %s", vis, changed, tt.visibility)
			}
		})
	}
}

// A body that can never be processed goes back at once, so it reaches the
// dead-letter queue after maxReceiveCount receives instead of looping or
// vanishing.
func TestMalformedMessagesHeadForTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	bodies := []string{
		"",
		"not json",
		`["job_id"]`,
		`{"job_id":"not-a-uuid","owner":"u"}`,
		`{"job_id":"` + jobs.NewID() + `"}`,
		`{"owner":"u"}`,
		`{"job_id":"` + jobs.NewID() + `","owner":"` + strings.Repeat("x", 200) + `"}`,
	}
	for _, body := range bodies {
		b := setup(t, testConfig())
		m := events.SQSMessage{MessageId: "m1", ReceiptHandle: "rh1", Body: body,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{m}})
		if !slices.Equal(failedIDs(resp), []string{"m1"}) {
			t.Errorf("body %q: failures %v, want [m1]", body, failedIDs(resp))
		}
		if vis, ok := b.queue.visibility("rh1"); !ok || vis != 0 {
			t.Errorf("body %q: visibility %s (set %v), want 0", body, vis, ok)
		}
		// Claim is nil: the fake fails the test if it is called.
	}
}

func TestUnknownMessageFieldsAreAccepted(t *testing.T) {
	t.Parallel()
	id := jobs.NewID()
	m, err := decodeMessage(`{"job_id":"` + id + `","owner":"u","trace":"x"}`)
	if err != nil || m.JobID != id || m.Owner != "u" {
		t.Errorf("decodeMessage = %+v, %v", m, err)
	}
}

// Near the Lambda deadline the model is stopped and the job released; its
// partial text is never finished as a success.
func TestTheDeadlineStopsTheModelAndKeepsTheTextSoFar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		model   string
		delta   string
		receive int
		// continued: the job goes on in a new message and this one is
		// acknowledged; otherwise it comes back (receive 1) or the job
		// fails (the last receive).
		continued bool
	}{
		{"a prefill model that wrote something continues", haiku45, "half an answer ", 1, true},
		{"even on the last receive", haiku45, "half an answer ", 5, true},
		{"a call that wrote nothing uses up a receive", haiku45, "", 1, false},
		{"and fails the job on the last", haiku45, "", 5, false},
		{"a user-turn model that wrote something continues", haiku55, "half an answer ", 1, true},
		{"even on its last receive", haiku55, "half an answer ", 5, true},
		{"a user-turn call that wrote nothing uses up a receive", haiku55, "", 1, false},
	} {
		// A margin just short of the Lambda's time: the worker stops the
		// model 100ms in, while the invocation itself has an hour left,
		// so only the margin can have stopped it.
		cfg := testConfig()
		cfg.DeadlineMargin = time.Hour - 100*time.Millisecond
		b := setup(t, cfg)
		b.w.now = time.Now // the deadline is real time
		job := newJob(tc.receive)
		job.Model = tc.model
		job.Tokens = jobs.Tokens{Input: 10, Output: 5}
		b.store.ClaimFunc = claimReturns(t, job)
		var stoppedBy error
		b.model.GenerateFunc = func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
			if tc.delta != "" {
				onDelta(tc.delta)
			}
			<-ctx.Done()
			stoppedBy = context.Cause(ctx)
			return jobs.Progress{GeneratedText: tc.delta, Tokens: jobs.Tokens{Input: 7, Output: len(strings.Fields(tc.delta))}}, ctx.Err()
		}
		var kept []jobs.Progress
		b.store.SaveProgressFunc = func(_ context.Context, _, _ string, _ int, p jobs.Progress, _ time.Duration) error {
			kept = append(kept, p)
			return nil
		}
		released := false
		var releasedFor time.Duration
		b.store.ReleaseFunc = func(_ context.Context, _, _ string, _ int, w jobs.Wait) error {
			released, releasedFor = true, w.After
			return nil
		}
		var failures []jobs.Failure
		b.store.FailFunc = func(_ context.Context, _, _ string, _ int, f jobs.Failure) error {
			failures = append(failures, f)
			return nil
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		resp, _ := b.w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{message(job, tc.receive)}})
		cancel()
		if !errors.Is(stoppedBy, errDeadline) {
			t.Errorf("%s: model stopped by %v, want the deadline margin", tc.name, stoppedBy)
		}
		// Whatever the call wrote is kept, with its tokens added to the
		// earlier calls'.
		if tc.delta != "" {
			want := jobs.Progress{GeneratedText: tc.delta, Tokens: jobs.Tokens{Input: 17, Output: 8}}
			if len(kept) == 0 || kept[len(kept)-1] != want {
				t.Errorf("%s: saved %+v, want last %+v", tc.name, kept, want)
			}
		}
		switch {
		case tc.continued:
			if !released || len(failures) != 0 || len(resp.BatchItemFailures) != 0 || len(b.queue.sent) != 1 {
				t.Errorf("%s: released %v, failures %v, batch failures %v, sent %v; want released and sent again",
					tc.name, released, failures, resp.BatchItemFailures, b.queue.sent)
			} else if releasedFor != b.queue.sent[0].delay {
				t.Errorf("%s: released to come back after %s, its new message after %s; want the same", tc.name, releasedFor, b.queue.sent[0].delay)
			}
		case tc.receive == 1:
			if !released || len(failures) != 0 || len(resp.BatchItemFailures) != 1 {
				t.Errorf("%s: released %v, failures %v; want released, the message back", tc.name, released, failures)
			}
			if vis, _ := b.queue.visibility("rh-" + job.ID); vis != 0 {
				t.Errorf("%s: visibility %s, want 0 (nothing to wait for)", tc.name, vis)
			}
		default:
			want := jobs.Failure{Code: jobs.FailureRetries, Message: "Gave up after 5 attempts. The last one failed with: The job did not finish within the worker's time limit."}
			if released || !slices.Equal(failures, []jobs.Failure{want}) {
				t.Errorf("%s: released %v, failures %+v; want failed with %+v", tc.name, released, failures, want)
			}
		}
		// Finish is nil: a call fails the test.
	}
}

// A job with text from an earlier call is continued: a prefill model gets
// the text (trailing whitespace and all: the model adapter trims it) and
// what is left of max_tokens; the text it writes is appended without
// repeating the whitespace, tokens are summed, and the continuation is
// counted and logged without the text.
func TestAJobWithTextIsContinued(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	job := newJob(2)
	job.Model = jobs.DefaultModel
	job.GeneratedText = "The first half.\n"
	job.Tokens = jobs.Tokens{Input: 10, Output: 40, CacheRead: 3}
	job.Continuations = 1
	b.store.ClaimFunc = claimReturns(t, job)
	var got jobs.Request
	b.model.GenerateFunc = func(_ context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		got = req
		onDelta("\nThe second half.")
		return jobs.Progress{GeneratedText: "\nThe second half.", Tokens: jobs.Tokens{Input: 14, Output: 4, CacheWrite: 2}, StopReason: "end_turn"}, nil
	}
	var finished jobs.Progress
	b.store.FinishFunc = func(_ context.Context, _, _ string, _ int, p jobs.Progress) error { finished = p; return nil }
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 2)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	if got.Continue != job.GeneratedText || got.MaxTokens != 60 || got.Prompt != job.Prompt {
		t.Errorf("request %+v, want the text so far and 60 tokens left", got)
	}
	// The first half is stored; the result only adds to it.
	want := jobs.Progress{GeneratedText: "The first half.\nThe second half.", StopReason: "end_turn", Continuations: 2,
		Tokens: jobs.Tokens{Input: 24, Output: 44, CacheRead: 3, CacheWrite: 2}, Saved: 16, Appended: true}
	if finished != want {
		t.Errorf("finished %+v, want %+v", finished, want)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"msg":"continuing the job's answer"`) || !strings.Contains(logs, `"continuation":2`) {
		t.Errorf("no continuation logged: %s", logs)
	}
	if strings.Contains(logs, "first half") || strings.Contains(logs, "SECRET PROMPT") {
		t.Errorf("logs carry text: %s", logs)
	}
}

func TestTheAnswerAShownTextBecomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, before string
		by           catalogue.Continuation
		added        []string
		shown        []string // String after each added piece
		final        string
	}{
		{"appended", "One two", catalogue.Prefill, []string{" three", " four"}, []string{"One two three", "One two three four"}, "One two three four"},
		{"trimmed whitespace not written twice", "One two\n\n", catalogue.Prefill, []string{"\n\nthree"}, []string{"One two\n\nthree"}, "One two\n\nthree"},
		{"other whitespace kept", "One two ", catalogue.Prefill, []string{"three"}, []string{"One two three"}, "One two three"},
		{"a user turn goes on", "One two three", catalogue.UserTurn, []string{" four", " five"}, []string{"One two three four", "One two three four five"},
			"One two three four five"},
		{"a user turn that repeats the end is joined without it", "It was a dark and stormy night; the rain fell in tor",
			catalogue.UserTurn, []string{"the rain fell", " in torrents."},
			[]string{"It was a dark and stormy night; the rain fell in tor", "It was a dark and stormy night; the rain fell in torrents."},
			"It was a dark and stormy night; the rain fell in torrents."},
	} {
		a := newAnswer(tc.before, tc.by)
		for i, piece := range tc.added {
			a.append(piece)
			if got := a.String(); got != tc.shown[i] {
				t.Errorf("%s: after %q shown %q, want %q", tc.name, piece, got, tc.shown[i])
			}
		}
		if got := a.final(); got != tc.final {
			t.Errorf("%s: final %q, want %q", tc.name, got, tc.final)
		}
	}
}

func TestNoClaimWhenTheDeadlineLeavesNoTime(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DeadlineMargin = time.Hour
	b := setup(t, cfg)
	b.w.now = time.Now
	job := newJob(1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	resp, _ := b.w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
	if len(resp.BatchItemFailures) != 1 {
		t.Errorf("failures %v, want the message back", resp.BatchItemFailures)
	}
	// Claim is nil: a call fails the test.
}

func TestFinishingAfterACancellationDropsTheResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		finishErr  error
		retry      bool
		released   bool
		visibility time.Duration
	}{
		{finishErr: jobs.ErrConflict},
		{finishErr: errBoom, retry: true, released: true, visibility: 10 * time.Second},
	}
	for _, tt := range tests {
		b := setup(t, testConfig())
		job := newJob(1)
		b.store.ClaimFunc = claimReturns(t, job)
		b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
			return jobs.Progress{GeneratedText: "done", StopReason: "end_turn"}, nil
		}
		b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return tt.finishErr }
		released := false
		b.store.ReleaseFunc = func(context.Context, string, string, int, jobs.Wait) error { released = true; return nil }
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
		if got := len(resp.BatchItemFailures) == 1; got != tt.retry || released != tt.released {
			t.Errorf("Finish error %v: retry %v released %v, want %v %v", tt.finishErr, got, released, tt.retry, tt.released)
		}
	}
}

// One message failing, permanently or not, or even panicking, does not make
// the others of its batch redo their work.
func TestABatchReportsOnlyTheMessagesToRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	ok, permanent, transient, panics := newJob(1), newJob(1), newJob(1), newJob(1)
	ok.Prompt, permanent.Prompt, transient.Prompt, panics.Prompt = "ok", "permanent", "transient", "panic"
	byID := map[string]jobs.Job{ok.ID: ok, permanent.ID: permanent, transient.ID: transient, panics.ID: panics}
	b.store.ClaimFunc = func(_ context.Context, _, id string, _ time.Duration) (jobs.Job, error) { return byID[id], nil }
	b.model.GenerateFunc = func(_ context.Context, req jobs.Request, _ func(string)) (jobs.Progress, error) {
		switch req.Prompt {
		case "permanent":
			return jobs.Progress{}, jobs.Invalid("prompt", "No.")
		case "transient":
			return jobs.Progress{}, &jobs.Error{Kind: jobs.KindUnavailable, Message: "Later."}
		case "panic":
			panic("model bug")
		}
		return jobs.Progress{GeneratedText: "fine"}, nil
	}
	var mu sync.Mutex
	var finished, failed, released []string
	b.store.FinishFunc = func(_ context.Context, _, id string, _ int, _ jobs.Progress) error {
		mu.Lock()
		defer mu.Unlock()
		finished = append(finished, id)
		return nil
	}
	b.store.FailFunc = func(_ context.Context, _, id string, _ int, _ jobs.Failure) error {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, id)
		return nil
	}
	b.store.ReleaseFunc = func(_ context.Context, _, id string, _ int, _ jobs.Wait) error {
		mu.Lock()
		defer mu.Unlock()
		released = append(released, id)
		return nil
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{message(ok, 1), message(permanent, 1), message(transient, 1), message(panics, 1)}}
	resp, err := b.w.Handle(t.Context(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	got := failedIDs(resp)
	slices.Sort(got)
	want := []string{"msg-" + transient.ID, "msg-" + panics.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("BatchItemFailures = %v, want %v", got, want)
	}
	if !slices.Equal(finished, []string{ok.ID}) || !slices.Equal(failed, []string{permanent.ID}) || !slices.Equal(released, []string{transient.ID}) {
		t.Errorf("finished %v failed %v released %v", finished, failed, released)
	}
}

func TestABatchRunsConcurrentlyUpToTheLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Concurrency = 3
	b := setup(t, cfg)
	var active, peak atomic.Int32
	full := make(chan struct{})
	var fullOnce sync.Once
	release := make(chan struct{})
	b.store.ClaimFunc = func(_ context.Context, o, id string, _ time.Duration) (jobs.Job, error) {
		j := newJob(1)
		j.ID = id
		return j, nil
	}
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == 3 {
			fullOnce.Do(func() { close(full) })
		}
		<-release
		return jobs.Progress{GeneratedText: "x"}, nil
	}
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	var ev events.SQSEvent
	for range 10 {
		ev.Records = append(ev.Records, message(newJob(1), 1))
	}
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), ev)
		done <- resp
	}()
	<-full // three at once: the batch is not processed one by one
	close(release)
	resp := <-done
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrency %d, want 3 (the limit)", p)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures %v", resp.BatchItemFailures)
	}
}

func TestAFailedVisibilityChangeStillReportsTheMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	b.queue.ChangeVisibilityFunc = func(context.Context, string, time.Duration) error { return errBoom }
	m := events.SQSMessage{MessageId: "m1", ReceiptHandle: "rh1", Body: "junk"}
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{m}})
	if !slices.Equal(failedIDs(resp), []string{"m1"}) {
		t.Errorf("failures %v, want [m1]", failedIDs(resp))
	}
}

func TestAnEmptyBatchAnswersWithAnEmptyList(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	resp, err := b.w.Handle(t.Context(), events.SQSEvent{})
	if err != nil || resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("Handle(empty) = %#v, %v; want an empty, non-nil list", resp, err)
	}
}

// Logs carry the job, the user and the attempt, and never the prompt or
// the generated text.
func TestLogsNameTheJobButNotItsText(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig())
	good, bad := newJob(3), newJob(1)
	bad.Prompt = "ANOTHER SECRET PROMPT"
	byID := map[string]jobs.Job{good.ID: good, bad.ID: bad}
	b.store.ClaimFunc = func(_ context.Context, _, id string, _ time.Duration) (jobs.Job, error) { return byID[id], nil }
	b.model.GenerateFunc = func(_ context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		if req.Prompt == bad.Prompt {
			return jobs.Progress{}, jobs.Invalid("prompt", "No.")
		}
		onDelta("SECRET ANSWER")
		return jobs.Progress{GeneratedText: "SECRET ANSWER", Tokens: jobs.Tokens{Output: 2}}, nil
	}
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	b.store.FailFunc = func(context.Context, string, string, int, jobs.Failure) error { return nil }
	_, _ = b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(good, 1), message(bad, 1)}})
	logs := b.logs.String()
	for _, secret := range []string{"SECRET PROMPT", "SECRET ANSWER", "be brief"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"job_id":"` + good.ID, `"user":"` + owner, `"attempt":3`, `"msg":"job succeeded"`, `"msg":"job failed: the model rejected it"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// The models of the continuation tests: one that takes a prefilled
// answer, one that takes a user turn.
const (
	haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	haiku55 = "us.anthropic.claude-haiku-5-5"
)

func TestNewChecksItsArguments(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	if _, err := New(nil, &fakeQueue{}, &fakeModel{}, cfg, Options{}); err == nil {
		t.Error("New with no store succeeded")
	}
	cfg.Concurrency = 0
	if _, err := New(&fakeStore{t: t}, &fakeQueue{}, &fakeModel{}, cfg, Options{}); err == nil {
		t.Error("New with concurrency 0 succeeded")
	}
}
