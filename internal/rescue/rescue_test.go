package rescue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/rescue"
	"github.com/promptq/promptq/internal/sqsqueue"
)

const (
	after       = 45 * time.Minute
	lease       = time.Minute
	maxAttempts = 5
	owner       = "user-1"
)

// fakeQueue records what is sent; depth (every lane's, unless
// depthOf names the lane) and sendErr set its answers.
type fakeQueue struct {
	mu      sync.Mutex
	depth   sqsqueue.Depth
	depthOf map[jobs.Lane]sqsqueue.Depth
	sendErr error
	sent    []jobs.Message
}

func (q *fakeQueue) Send(_ context.Context, m jobs.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sendErr != nil {
		return q.sendErr
	}
	q.sent = append(q.sent, m)
	return nil
}

func (q *fakeQueue) Depth(_ context.Context, lane jobs.Lane) (sqsqueue.Depth, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d, ok := q.depthOf[lane]; ok {
		return d, nil
	}
	return q.depth, nil
}

func (q *fakeQueue) take() []jobs.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sent
	q.sent = nil
	return s
}

type env struct {
	t       *testing.T
	clock   *storetest.Clock
	store   *inmem.Store
	queue   *fakeQueue
	rescuer *rescue.Rescuer
}

func setup(t *testing.T) *env {
	t.Helper()
	c := storetest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	st := inmem.NewStore(inmem.Options{Now: c.Now})
	q := &fakeQueue{}
	r, err := rescue.New(st, q, rescue.Options{After: after, MaxAttempts: maxAttempts, Now: c.Now},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, clock: c, store: st, queue: q, rescuer: r}
}

func (e *env) create() jobs.Job { return e.createOn(jobs.LaneInteractive) }

func (e *env) createOn(lane jobs.Lane) jobs.Job {
	e.t.Helper()
	j, _, err := e.store.Create(e.t.Context(), jobs.Job{ID: jobs.NewID(), Owner: owner, Lane: lane, Prompt: "p", Model: "m", MaxTokens: 10}, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) claim(id string) jobs.Job {
	e.t.Helper()
	j, err := e.store.Claim(e.t.Context(), owner, id, lease)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) get(id string) jobs.Job {
	e.t.Helper()
	j, err := e.store.Get(e.t.Context(), owner, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) run() rescue.Report {
	e.t.Helper()
	rep, err := e.rescuer.Run(e.t.Context())
	if err != nil {
		e.t.Fatalf("Run: %v", err)
	}
	return rep
}

func wantSent(t *testing.T, got []jobs.Message, ids ...string) {
	t.Helper()
	if len(got) != len(ids) {
		t.Fatalf("sent %v, want messages for %v", got, ids)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, m := range got {
		if !want[m.JobID] || m.Owner != owner {
			t.Errorf("sent %+v, want one of %v owned by %s", m, ids, owner)
		}
		delete(want, m.JobID)
	}
}

func TestAQueuedJobWhoseMessageIsLostIsRequeuedAndSentOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.create() // stored, never sent: the API died before SendMessage
	e.clock.Advance(after + time.Second)

	if rep := e.run(); rep != (rescue.Report{Stale: 1, Requeued: 1}) {
		t.Errorf("report %+v, want 1 stale and requeued", rep)
	}
	wantSent(t, e.queue.take(), j.ID)
	if got := e.get(j.ID); got.Status != jobs.StatusQueued || !got.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("job after rescue: %s updated %s, want queued updated now (%s)", got.Status, got.UpdatedAt, e.clock.Now())
	}

	// The requeue restarted its clock: the next runs leave it alone
	// until After has passed again.
	e.clock.Advance(after - time.Second)
	if rep := e.run(); rep.Stale != 0 || len(e.queue.take()) != 0 {
		t.Errorf("a run within After of the rescue found %+v", rep)
	}
	e.clock.Advance(2 * time.Second)
	if rep := e.run(); rep.Requeued != 1 {
		t.Errorf("a run After the rescue, the job still queued: %+v, want it sent again", rep)
	}
	wantSent(t, e.queue.take(), j.ID)
}

func TestARunningJobWhoseWorkerAndMessageAreGoneIsRequeued(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.create()
	e.claim(j.ID)
	e.clock.Advance(lease + after - time.Second)
	if rep := e.run(); rep.Stale != 0 {
		t.Fatalf("the lease lapsed less than After ago, yet %+v", rep)
	}

	e.clock.Advance(2 * time.Second)
	if rep := e.run(); rep != (rescue.Report{Stale: 1, Requeued: 1}) {
		t.Errorf("report %+v, want 1 stale and requeued", rep)
	}
	wantSent(t, e.queue.take(), j.ID)
	got := e.get(j.ID)
	if got.Status != jobs.StatusQueued || got.Attempts != 1 {
		t.Errorf("job after rescue: %s at attempt %d, want queued, attempts kept at 1", got.Status, got.Attempts)
	}
	if c := e.claim(j.ID); c.Attempts != 2 {
		t.Errorf("the rescued job's next claim is attempt %d, want 2", c.Attempts)
	}
}

func TestARunningJobStaleAtItsLastAttemptIsFailedNotRunAgain(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.create()
	for range maxAttempts { // a job that kills its worker every time
		e.claim(j.ID)
		e.clock.Advance(lease + time.Second)
	}
	e.clock.Advance(after)

	if rep := e.run(); rep != (rescue.Report{Stale: 1, Failed: 1}) {
		t.Errorf("report %+v, want 1 stale and failed", rep)
	}
	if sent := e.queue.take(); len(sent) != 0 {
		t.Errorf("sent %v for a job with no attempts left", sent)
	}
	got := e.get(j.ID)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailureRetries ||
		!strings.Contains(got.Failure.Message, "5 attempts") {
		t.Errorf("job after rescue: %s %+v, want failed retries_exhausted saying 5 attempts", got.Status, got.Failure)
	}
}

func TestFreshAndFinishedJobsAreLeftAlone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	var ended []string
	for _, end := range []func(j jobs.Job) error{
		func(j jobs.Job) error {
			c := e.claim(j.ID)
			return e.store.Finish(ctx, owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: "ok"})
		},
		func(j jobs.Job) error {
			c := e.claim(j.ID)
			return e.store.Fail(ctx, owner, j.ID, c.Attempts, jobs.Failure{Code: jobs.FailureModel, Message: "no"})
		},
		func(j jobs.Job) error { _, err := e.store.Cancel(ctx, owner, j.ID); return err },
	} {
		j := e.create()
		if err := end(j); err != nil {
			t.Fatal(err)
		}
		ended = append(ended, j.ID)
	}
	e.clock.Advance(10 * after) // long-finished jobs are never stale
	fresh := e.create()
	running := e.create()
	e.claim(running.ID)
	e.clock.Advance(after - time.Second)
	// A worker that keeps its lease fresh keeps its job off the list.
	if err := e.store.SaveProgress(ctx, owner, running.ID, 1, jobs.Progress{GeneratedText: "..."}, lease); err != nil {
		t.Fatal(err)
	}

	ids := append(ended, fresh.ID, running.ID)
	before := map[string]jobs.Job{}
	for _, id := range ids {
		before[id] = e.get(id)
	}
	if rep := e.run(); rep != (rescue.Report{}) {
		t.Errorf("report %+v, want nothing found", rep)
	}
	if sent := e.queue.take(); len(sent) != 0 {
		t.Errorf("sent %v", sent)
	}
	for _, id := range ids {
		if got, was := e.get(id), before[id]; got.Status != was.Status || !got.UpdatedAt.Equal(was.UpdatedAt) {
			t.Errorf("job %s was touched: %s updated %s, was %s updated %s", id, got.Status, got.UpdatedAt, was.Status, was.UpdatedAt)
		}
	}
}

func TestTheRunWaitsWhileMessagesAreWaitingInTheQueue(t *testing.T) {
	t.Parallel()
	for _, depth := range []sqsqueue.Depth{{Visible: 3}, {Delayed: 1}} {
		e := setup(t)
		j := e.create()
		e.clock.Advance(2 * after)
		e.queue.depth = depth
		n := (depth.Visible + depth.Delayed) * len(jobs.Lanes)
		if rep := e.run(); rep != (rescue.Report{Waiting: n}) {
			t.Errorf("depth %+v in every lane: report %+v, want only Waiting", depth, rep)
		}
		if sent := e.queue.take(); len(sent) != 0 {
			t.Errorf("depth %+v: sent %v while messages wait", depth, sent)
		}

		// Messages in flight are held by workers, not waiting: the run goes ahead.
		e.queue.depth = sqsqueue.Depth{InFlight: 7}
		if rep := e.run(); rep.Requeued != 1 {
			t.Errorf("depth %+v: report %+v, want the job requeued", e.queue.depth, rep)
		}
		wantSent(t, e.queue.take(), j.ID)
	}
}

// A bulk backlog holds back only the bulk lane's rescues: the interactive
// lane's lost jobs are rescued during it, onto their own lane's queue.
func TestABacklogInOneLaneDefersOnlyThatLanesRescues(t *testing.T) {
	t.Parallel()
	e := setup(t)
	interactive := e.create()
	bulk := e.createOn(jobs.LaneBulk)
	e.clock.Advance(2 * after)
	e.queue.depthOf = map[jobs.Lane]sqsqueue.Depth{jobs.LaneBulk: {Visible: 5000}}
	if rep := e.run(); rep != (rescue.Report{Waiting: 5000, Stale: 1, Requeued: 1, Deferred: 1}) {
		t.Errorf("report %+v, want the interactive job rescued and the bulk one deferred", rep)
	}
	sent := e.queue.take()
	wantSent(t, sent, interactive.ID)
	if sent[0].Lane != jobs.LaneInteractive {
		t.Errorf("sent %+v, want it on the interactive lane", sent[0])
	}

	// Once the backlog is gone the bulk job is rescued, on its lane.
	e.queue.depthOf = nil
	e.clock.Advance(2 * after)
	if rep := e.run(); rep.Requeued != 2 {
		t.Errorf("report %+v, want both jobs requeued (the interactive one is stale again)", rep)
	}
	for _, m := range e.queue.take() {
		if m.JobID == bulk.ID && (m.Lane != jobs.LaneBulk || m.Model != "m" || m.Tokens != 11) {
			t.Errorf("bulk job sent as %+v, want its lane, model and tokens", m)
		}
	}
}

func TestAFailedSendIsReportedAndTriedAgainLater(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.create()
	e.clock.Advance(after + time.Second)
	e.queue.sendErr = errors.New("queue unavailable")

	rep, err := e.rescuer.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), j.ID) {
		t.Errorf("Run error = %v, want one naming job %s", err, j.ID)
	}
	if rep != (rescue.Report{Stale: 1, Errors: 1}) {
		t.Errorf("report %+v, want 1 stale, 1 error", rep)
	}

	e.queue.sendErr = nil
	e.clock.Advance(after + time.Second)
	if rep := e.run(); rep.Requeued != 1 {
		t.Errorf("the next run after After: %+v, want the job requeued and sent", rep)
	}
	wantSent(t, e.queue.take(), j.ID)
}

func TestAJobThatMovesOnAfterTheScanIsLeftAlone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	j := e.create()
	e.claim(j.ID)
	e.clock.Advance(lease + after + time.Second)
	// Another worker reclaims the job between the scan and the requeue.
	moved := &movingStore{Store: e.store, move: func() { e.claim(j.ID) }}
	r, err := rescue.New(moved, e.queue, rescue.Options{After: after, MaxAttempts: maxAttempts, Now: e.clock.Now}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(t.Context())
	if err != nil || rep != (rescue.Report{Stale: 1, MovedOn: 1}) {
		t.Errorf("Run = %+v, %v; want 1 stale, moved on", rep, err)
	}
	if sent := e.queue.take(); len(sent) != 0 {
		t.Errorf("sent %v for a job a worker holds", sent)
	}
	if got := e.get(j.ID); got.Status != jobs.StatusRunning || got.Attempts != 2 {
		t.Errorf("job %s at attempt %d, want running at 2 (the reclaim)", got.Status, got.Attempts)
	}
}

// movingStore runs move just before its first Requeue, as a worker racing
// the rescuer would.
type movingStore struct {
	*inmem.Store
	once sync.Once
	move func()
}

func (m *movingStore) Requeue(ctx context.Context, owner, id string) (jobs.Job, error) {
	m.once.Do(m.move)
	return m.Store.Requeue(ctx, owner, id)
}

func TestNewRejectsMissingSettings(t *testing.T) {
	t.Parallel()
	st, q := inmem.NewStore(inmem.Options{}), &fakeQueue{}
	for name, opts := range map[string]rescue.Options{
		"no After":       {MaxAttempts: 5},
		"no MaxAttempts": {After: time.Hour},
	} {
		if _, err := rescue.New(st, q, opts, nil); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
