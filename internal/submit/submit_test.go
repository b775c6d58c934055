package submit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

type fixture struct {
	svc     *submit.Service
	store   *inmem.Store
	queue   *inmem.Queue
	clock   *storetest.Clock
	limiter *fakeLimiter
	lanes   *fakeLanes
}

func setup(t *testing.T) *fixture {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	f := &fixture{
		store:   inmem.NewStore(inmem.Options{Now: clock.Now}),
		queue:   &inmem.Queue{},
		clock:   clock,
		limiter: &fakeLimiter{},
		lanes:   &fakeLanes{},
	}
	svc, err := submit.New(submit.Config{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Budgets: jobs.Budgets{TokensPerDay: 1_000_000, ActiveJobs: 1000}},
		submit.Deps{Store: f.store, Queue: f.queue, Limiter: f.limiter, Budget: f.store, Lanes: f.lanes})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func entry(prompt, key string, lane jobs.Lane) submit.Entry {
	return submit.Entry{Request: jobs.Request{Prompt: prompt, Model: jobs.DefaultModel, MaxTokens: 100, Lane: lane}, IdempotencyKey: key}
}

func (f *fixture) submit(t *testing.T, owner string, es ...submit.Entry) []submit.Result {
	t.Helper()
	res, err := f.svc.Submit(t.Context(), owner, es)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if len(res) != len(es) {
		t.Fatalf("Submit answered %d entries of %d", len(res), len(es))
	}
	return res
}

type fakeLimiter struct {
	mu       sync.Mutex
	allowErr error
	asked    int
}

func (l *fakeLimiter) Allow(_ context.Context, _ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	return l.allowErr
}

// usage is the owner's usage today, as the store counts it.
func (f *fixture) usage(t *testing.T, owner string) jobs.Usage {
	t.Helper()
	u, err := f.store.Usage(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// worstCase is what entry("p"...) reserves: a byte of prompt, the framing
// and max_tokens 100.
const worstCase = 1 + jobs.InputFramingTokens + 100

type fakeLanes struct {
	mu      sync.Mutex
	waiting []string
}

func (l *fakeLanes) Waiting(_ context.Context, lane jobs.Lane, owner string, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiting = append(l.waiting, fmt.Sprintf("%s/%s/%d", lane, owner, n))
	return nil
}

func TestNewJobsAreStoredAndSentOnTheirLanes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	res := f.submit(t, "alice", entry("a", "", jobs.LaneBulk), entry("b", "k", jobs.LaneInteractive))
	for i, r := range res {
		if r.Err != nil || r.Replayed || r.Job.Status != jobs.StatusQueued {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	sent := f.queue.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %+v, want two messages", sent)
	}
	for i, m := range sent {
		j := res[i].Job
		want := jobs.Message{JobID: j.ID, Owner: "alice", Lane: j.Lane, Model: jobs.DefaultModel, Tokens: 101}
		if m != want {
			t.Errorf("message %d = %+v, want %+v", i, m, want)
		}
	}
	if res[0].Job.Lane != jobs.LaneBulk || res[1].Job.Lane != jobs.LaneInteractive {
		t.Errorf("lanes %s, %s; want bulk, interactive", res[0].Job.Lane, res[1].Job.Lane)
	}
	if want := []string{"bulk/alice/1", "interactive/alice/1"}; !slices.Equal(f.lanes.waiting, want) {
		t.Errorf("lanes told %v, want %v: each lane once, with its messages", f.lanes.waiting, want)
	}
}

// 100 identical entries in one call are one job and one message, charged
// once.
func TestRepeatedEntriesOfOneCallAreOneJobAndOneMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	es := make([]submit.Entry, 100)
	for i := range es {
		es[i] = entry("same", "same-key", jobs.LaneBulk)
	}
	res := f.submit(t, "alice", es...)
	for i, r := range res {
		if r.Err != nil || r.Job.ID != res[0].Job.ID {
			t.Fatalf("entry %d = %+v, want the first entry's job", i, r)
		}
		if r.Replayed != (i > 0) {
			t.Errorf("entry %d: replayed %v", i, r.Replayed)
		}
	}
	if n := len(f.queue.Sent()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if p, _ := f.store.List(t.Context(), "alice", 100, ""); len(p.Jobs) != 1 {
		t.Errorf("%d jobs, want 1", len(p.Jobs))
	}
	want := es[0].Request.WorstCaseTokens()
	if u := f.usage(t, "alice"); f.limiter.asked != 1 || u.Committed != want || u.Active != 1 {
		t.Errorf("limiter asked %d times, usage %+v; want one call, one job's worst case (%d) and one active job", f.limiter.asked, u, want)
	}
}

// Many replays of a queued job, all at once, send at most one message a
// ResendAfter, and none while the first message is recent.
func TestReplaysSendAtMostOneMessageAResendAfter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.submit(t, "alice", entry("p", "k", jobs.LaneBulk))[0].Job
	replay := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res, err := f.svc.Submit(context.Background(), "alice", []submit.Entry{entry("p", "k", jobs.LaneBulk)})
				if err != nil || res[0].Err != nil || res[0].Job.ID != first.ID || !res[0].Replayed {
					t.Errorf("replay = %+v, %v", res, err)
				}
			})
		}
		wg.Wait()
	}
	replay(50)
	if n := len(f.queue.Sent()); n != 1 {
		t.Fatalf("%d messages after 50 replays within ResendAfter, want the first only", n)
	}
	f.clock.Advance(submit.DefaultResendAfter)
	replay(50)
	if n := len(f.queue.Sent()); n != 2 {
		t.Fatalf("%d messages after 50 more replays once ResendAfter passed, want one more", n)
	}
	replay(10)
	if n := len(f.queue.Sent()); n != 2 {
		t.Errorf("%d messages: a replay right after a resend sent again", n)
	}
	if u := f.usage(t, "alice"); u.Committed != worstCase || u.Active != 1 {
		t.Errorf("after 110 replays usage is %+v, want the first job's reservation only (%d tokens, 1 job)", u, worstCase)
	}

	// Once a worker has the job, replays send nothing, however late.
	if _, err := f.store.Claim(t.Context(), "alice", first.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	replay(5)
	if n := len(f.queue.Sent()); n != 2 {
		t.Errorf("%d messages after replaying a running job, want still 2", n)
	}
}

func TestALimitRefusesTheWholeSubmissionAndChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.limiter.allowErr = &jobs.Error{Kind: jobs.KindRateLimited, Field: "submissions_per_minute", Message: "too many"}
	res, err := f.svc.Submit(t.Context(), "alice", []submit.Entry{entry("a", "", jobs.LaneBulk), entry("b", "k", jobs.LaneBulk)})
	if jobs.KindOf(err) != jobs.KindRateLimited || res != nil {
		t.Fatalf("Submit = %v, %v; want the limiter's refusal", res, err)
	}
	if p, _ := f.store.List(t.Context(), "alice", 10, ""); len(p.Jobs) != 0 || len(f.queue.Sent()) != 0 || len(f.lanes.waiting) != 0 {
		t.Errorf("a refused submission stored %d jobs, sent %d messages, told the lanes %v", len(p.Jobs), len(f.queue.Sent()), f.lanes.waiting)
	}
	if u := f.usage(t, "alice"); u.Committed != 0 || u.Active != 0 {
		t.Errorf("a refused submission reserved %+v", u)
	}
}

// A submission the budget cannot hold is refused whole, naming the limit,
// with nothing stored, sent or reserved: also the day's first, and also
// for the cap on active jobs.
func TestABudgetRefusesTheWholeSubmissionAndReservesNothing(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		budgets jobs.Budgets
		field   string
	}{
		{"tokens, the day's first", jobs.Budgets{TokensPerDay: 2*worstCase - 1}, jobs.LimitTokensPerDay},
		{"active jobs", jobs.Budgets{ActiveJobs: 1}, jobs.LimitActiveJobs},
		{"the stack's tokens", jobs.Budgets{StackTokensPerDay: worstCase}, jobs.LimitStackTokensPerDay},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			svc, err := submit.New(submit.Config{Now: f.clock.Now, Budgets: tt.budgets, Logger: slog.New(slog.DiscardHandler)},
				submit.Deps{Store: f.store, Queue: f.queue, Budget: f.store})
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.Submit(t.Context(), "alice", []submit.Entry{entry("p", "", jobs.LaneBulk), entry("q", "k", jobs.LaneBulk)})
			var je *jobs.Error
			if !errors.As(err, &je) || je.Kind != jobs.KindRateLimited || je.Field != tt.field || res != nil {
				t.Fatalf("Submit = %v, %v; want a refusal naming %s", res, err, tt.field)
			}
			if p, _ := f.store.List(t.Context(), "alice", 10, ""); len(p.Jobs) != 0 || len(f.queue.Sent()) != 0 {
				t.Errorf("a refused submission stored %d jobs, sent %d messages", len(p.Jobs), len(f.queue.Sent()))
			}
			if u := f.usage(t, "alice"); u.Committed != 0 || u.Active != 0 {
				t.Errorf("a refused submission reserved %+v", u)
			}
		})
	}
}

// A job that could not be queued is failed, and failing it gives back its
// reservation and its place.
func TestAnAbandonedJobGivesBackItsReservation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.queue.SetErrFunc(func(jobs.Message) error { return errors.New("sqs is down") })
	res := f.submit(t, "alice", entry("p", "k", jobs.LaneBulk))
	if !errors.Is(res[0].Err, submit.ErrNotQueued) {
		t.Fatalf("result = %+v, want ErrNotQueued", res[0])
	}
	if u := f.usage(t, "alice"); u.Committed != 0 || u.Active != 0 {
		t.Errorf("after an abandoned job usage is %+v, want nothing held", u)
	}
}

// A job whose message the queue refuses is failed and its key freed, so a
// retry makes a new job; a replay whose resend fails keeps its job and
// gets its SentAt back, so the next replay tries again.
func TestAFailedSendNeverLeavesAJobWaitingForNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.queue.SetErrFunc(func(jobs.Message) error { return errors.New("sqs: connection reset") })
	res := f.submit(t, "alice", entry("p", "k", jobs.LaneInteractive))
	if !errors.Is(res[0].Err, submit.ErrNotQueued) || jobs.KindOf(res[0].Err) != jobs.KindUnavailable {
		t.Fatalf("result = %+v, want ErrNotQueued", res[0])
	}
	p, _ := f.store.List(t.Context(), "alice", 10, "")
	if len(p.Jobs) != 1 || p.Jobs[0].Status != jobs.StatusFailed || p.Jobs[0].Failure.Code != jobs.FailureEnqueue {
		t.Fatalf("jobs %+v, want one failed with enqueue_failed", p.Jobs)
	}
	f.queue.SetErrFunc(nil)
	retry := f.submit(t, "alice", entry("p", "k", jobs.LaneInteractive))[0]
	if retry.Err != nil || retry.Replayed || retry.Job.ID == p.Jobs[0].ID {
		t.Fatalf("retry = %+v, want a new job", retry)
	}

	f.clock.Advance(submit.DefaultResendAfter)
	f.queue.SetErrFunc(func(jobs.Message) error { return errors.New("sqs: throttled") })
	replay := f.submit(t, "alice", entry("p", "k", jobs.LaneInteractive))[0]
	if !errors.Is(replay.Err, submit.ErrResendFailed) {
		t.Fatalf("replay with a failing queue = %+v, want ErrResendFailed", replay)
	}
	if got, _ := f.store.Get(t.Context(), "alice", retry.Job.ID); got.Status != jobs.StatusQueued || !got.SentAt.Equal(retry.Job.SentAt) {
		t.Errorf("after a failed resend the job is %s, sent at %v; want queued, sent at %v", got.Status, got.SentAt, retry.Job.SentAt)
	}
	f.queue.SetErrFunc(nil)
	if again := f.submit(t, "alice", entry("p", "k", jobs.LaneInteractive))[0]; again.Err != nil {
		t.Fatalf("next replay = %+v", again)
	}
	if sent := f.queue.Sent(); len(sent) != 2 || sent[1].JobID != retry.Job.ID {
		t.Errorf("sent %+v, want the retry's job and its resend", sent)
	}
}

func TestAKeyReusedWithAnotherBodyIsAConflict(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.submit(t, "alice", entry("one", "k", jobs.LaneBulk))
	res := f.submit(t, "alice", entry("two", "k", jobs.LaneBulk), entry("one", "k", jobs.LaneInteractive))
	if !errors.Is(res[0].Err, jobs.ErrIdempotencyMismatch) {
		t.Errorf("another body with the key = %+v, want a mismatch", res[0])
	}
	// The lane is not part of what was asked: the original job comes back.
	if res[1].Err != nil || !res[1].Replayed || res[1].Job.Lane != jobs.LaneBulk {
		t.Errorf("the same body on another lane = %+v, want the original bulk job", res[1])
	}
}

// landedButFailed is a store whose batch writes land and report errors, as
// when DynamoDB applied a write and its answer was lost.
type landedButFailed struct{ *inmem.Store }

func (s landedButFailed) CreateMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult {
	res := s.Store.CreateMany(ctx, items)
	for i := range res {
		res[i] = jobs.CreateResult{Err: errors.New("lost answer")}
	}
	return res
}

// Entries whose writes were reported failed give back their reservations
// only for jobs that do not exist; replays give theirs back as ever. A job
// that exists holds its reservation and gives it back when it ends: given
// back by the submission as well, it would count twice.
func TestAWriteThatLandedButFailedKeepsItsReservationForItsJob(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.submit(t, "alice", entry("f", "k", jobs.LaneBulk))
	svc, err := submit.New(submit.Config{Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)},
		submit.Deps{Store: landedButFailed{f.store}, Queue: f.queue, Budget: f.store})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Submit(t.Context(), "alice", []submit.Entry{entry("a", "", jobs.LaneBulk), entry("b", "", jobs.LaneBulk)})
	if err != nil || res[0].Err == nil || res[1].Err == nil {
		t.Fatalf("Submit = %+v, %v; want both entries failed", res, err)
	}
	if u := f.usage(t, "alice"); u.Committed != 3*worstCase || u.Active != 3 {
		t.Errorf("after writes that landed: %d tokens and %d jobs held, want %d and 3 (the landed jobs hold theirs)", u.Committed, u.Active, 3*worstCase)
	}
	// A replay gives its reservation back, as ever.
	if r := f.submit(t, "alice", entry("f", "k", jobs.LaneBulk)); !r[0].Replayed {
		t.Fatalf("the same entry again: %+v, want a replay", r[0])
	}
	if u := f.usage(t, "alice"); u.Committed != 3*worstCase || u.Active != 3 {
		t.Errorf("after a replay: %d tokens and %d jobs held, want %d and 3", u.Committed, u.Active, 3*worstCase)
	}
	p, _ := f.store.List(t.Context(), "alice", 10, "")
	for _, j := range p.Jobs {
		if _, err := f.store.Cancel(t.Context(), "alice", j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if u := f.usage(t, "alice"); u.Committed != 0 || u.Active != 0 || len(p.Jobs) != 3 {
		t.Errorf("after %d jobs ended: %d tokens and %d jobs held, want none", len(p.Jobs), u.Committed, u.Active)
	}
}
