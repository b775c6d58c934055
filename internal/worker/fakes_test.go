package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
)

// fakeStore is a store whose behaviour each test sets with function fields.
// A call to a method whose field is nil fails the test.
type fakeStore struct {
	t                testing.TB
	GetFunc          func(ctx context.Context, owner, id string) (jobs.Job, error)
	ClaimFunc        func(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error)
	SaveProgressFunc func(ctx context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error
	FinishFunc       func(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error
	FailFunc         func(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error
	ReleaseFunc      func(ctx context.Context, owner, id string, attempt int, w jobs.Wait) error
	WatchedUntilFunc func(ctx context.Context, owner, id string) (time.Time, error)
	// SentBackFunc, when set, sees each job recorded as sent back to
	// wait; unset, they are accepted.
	SentBackFunc func(ctx context.Context, owner, id string, w jobs.Wait) error
}

func (s *fakeStore) unexpected(name string) error {
	s.t.Errorf("unexpected call to store.%s", name)
	return fmt.Errorf("unexpected call to %s", name)
}

func (s *fakeStore) Get(ctx context.Context, owner, id string) (jobs.Job, error) {
	if s.GetFunc == nil {
		return jobs.Job{}, s.unexpected("Get")
	}
	return s.GetFunc(ctx, owner, id)
}

func (s *fakeStore) Claim(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error) {
	if s.ClaimFunc == nil {
		return jobs.Job{}, s.unexpected("Claim")
	}
	return s.ClaimFunc(ctx, owner, id, lease)
}

func (s *fakeStore) SaveProgress(ctx context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error {
	if s.SaveProgressFunc == nil {
		return s.unexpected("SaveProgress")
	}
	return s.SaveProgressFunc(ctx, owner, id, attempt, p, lease)
}

func (s *fakeStore) Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error {
	if s.FinishFunc == nil {
		return s.unexpected("Finish")
	}
	return s.FinishFunc(ctx, owner, id, attempt, p)
}

func (s *fakeStore) Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error {
	if s.FailFunc == nil {
		return s.unexpected("Fail")
	}
	return s.FailFunc(ctx, owner, id, attempt, f)
}

func (s *fakeStore) Release(ctx context.Context, owner, id string, attempt int, w jobs.Wait) error {
	if s.ReleaseFunc == nil {
		return s.unexpected("Release")
	}
	return s.ReleaseFunc(ctx, owner, id, attempt, w)
}

func (s *fakeStore) WatchedUntil(ctx context.Context, owner, id string) (time.Time, error) {
	if s.WatchedUntilFunc == nil {
		return time.Time{}, s.unexpected("WatchedUntil")
	}
	return s.WatchedUntilFunc(ctx, owner, id)
}

func (s *fakeStore) SentBack(ctx context.Context, owner, id string, w jobs.Wait) error {
	if s.SentBackFunc == nil {
		return nil
	}
	return s.SentBackFunc(ctx, owner, id, w)
}

// fakeQueue records visibility changes and messages sent again.
type fakeQueue struct {
	ChangeVisibilityFunc func(ctx context.Context, receiptHandle string, d time.Duration) error
	SendAfterFunc        func(ctx context.Context, m jobs.Message, d time.Duration) error

	mu      sync.Mutex
	changes map[string]time.Duration // receipt handle → last visibility
	lanes   map[string]jobs.Lane     // receipt handle → the lane of that change
	sent    []sentMessage
}

type sentMessage struct {
	msg   jobs.Message
	delay time.Duration
}

func (q *fakeQueue) ChangeVisibility(ctx context.Context, lane jobs.Lane, receiptHandle string, d time.Duration) error {
	q.mu.Lock()
	if q.changes == nil {
		q.changes = make(map[string]time.Duration)
		q.lanes = make(map[string]jobs.Lane)
	}
	q.changes[receiptHandle] = d
	q.lanes[receiptHandle] = lane
	q.mu.Unlock()
	if q.ChangeVisibilityFunc != nil {
		return q.ChangeVisibilityFunc(ctx, receiptHandle, d)
	}
	return nil
}

func (q *fakeQueue) SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error {
	if q.SendAfterFunc != nil {
		if err := q.SendAfterFunc(ctx, m, d); err != nil {
			return err
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, sentMessage{m, d})
	return nil
}

// sentAgain returns the messages sent again so far.
func (q *fakeQueue) sentAgain() []sentMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]sentMessage(nil), q.sent...)
}

// visibility returns the visibility set for a receipt handle, if any.
func (q *fakeQueue) visibility(receiptHandle string) (time.Duration, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, ok := q.changes[receiptHandle]
	return d, ok
}

// fakeModel is a Model whose Generate a test sets.
type fakeModel struct {
	GenerateFunc func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error)
}

func (m *fakeModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	return m.GenerateFunc(ctx, req, onDelta)
}

// manualClock is a clock tests move by hand, with a ticker they fire by hand.
type manualClock struct {
	mu   sync.Mutex
	t    time.Time
	tick chan time.Time
}

// clockStart is when a manual clock starts, and when newJob's jobs were
// created: an interactive job is watched at its start (jobs.Job.Watched).
var clockStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newManualClock() *manualClock {
	return &manualClock{t: clockStart, tick: make(chan time.Time)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *manualClock) newTicker(time.Duration) (<-chan time.Time, func()) { return c.tick, func() {} }

// Tick fires the flush ticker; it returns once the flusher has taken it.
func (c *manualClock) Tick(ctx context.Context) {
	select {
	case c.tick <- c.Now():
	case <-ctx.Done():
	}
}

// bundle is what a worker test works with.
type bundle struct {
	w     *Worker
	store *fakeStore
	queue *fakeQueue
	model *fakeModel
	clock *manualClock
	logs  *standin.Buffer
}

// testConfig is the run configuration the unit tests use: backoff is 10s
// doubling to at most 2m, the last receive is the 5th.
func testConfig() Config {
	c := DefaultConfig()
	c.Table = "jobs"
	c.QueueURLs = map[jobs.Lane]string{jobs.LaneInteractive: "https://sqs.example/1/jobs", jobs.LaneBulk: "https://sqs.example/1/jobs-bulk"}
	c.BackoffBase, c.BackoffMax = 10*time.Second, 2*time.Minute
	c.Lease = time.Minute
	c.DeadlineMargin = 20 * time.Millisecond
	return c
}

// setup returns a worker over fakes with a manual clock and jitter that
// always picks the top of the range, so backoffs are exact.
func setup(t *testing.T, cfg Config) *bundle {
	t.Helper()
	b := &bundle{
		store: &fakeStore{t: t},
		queue: &fakeQueue{},
		model: &fakeModel{},
		clock: newManualClock(),
		logs:  &standin.Buffer{},
	}
	logger := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(b.store, b.queue, b.model, cfg, Options{Logger: logger})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w.now = b.clock.Now
	w.newTicker = b.clock.newTicker
	w.jitter = func(n int64) int64 { return n - 1 }
	w.sleep = func(ctx context.Context, d time.Duration) error { b.clock.Advance(d); return ctx.Err() }
	b.w = w
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", b.logs.String())
		}
	})
	return b
}

const owner = "5f0c8c1e-0000-4000-8000-00000000c0de"

// newJob returns a running job as a claim returns it.
func newJob(attempt int) jobs.Job {
	return jobs.Job{
		ID: jobs.NewID(), Owner: owner, Status: jobs.StatusRunning,
		Prompt: "SECRET PROMPT TEXT", System: "be brief", Model: "m", MaxTokens: 100,
		Attempts: attempt, CreatedAt: clockStart,
	}
}

// message is an SQS record for a job, as Lambda delivers it.
func message(j jobs.Job, receive int) events.SQSMessage {
	return events.SQSMessage{
		MessageId:     "msg-" + j.ID,
		ReceiptHandle: "rh-" + j.ID,
		Body:          fmt.Sprintf(`{"job_id":%q,"owner":%q}`, j.ID, j.Owner),
		Attributes:    map[string]string{"ApproximateReceiveCount": strconv.Itoa(receive)},
		EventSource:   "aws:sqs",
	}
}

// claimReturns makes Claim hand out j for its id.
func claimReturns(t *testing.T, j jobs.Job) func(context.Context, string, string, time.Duration) (jobs.Job, error) {
	return func(_ context.Context, o, id string, _ time.Duration) (jobs.Job, error) {
		if o != j.Owner || id != j.ID {
			t.Errorf("Claim(%q, %q), want (%q, %q)", o, id, j.Owner, j.ID)
		}
		return j, nil
	}
}

// failedIDs lists the message ids a response reports failed.
func failedIDs(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

var errBoom = errors.New("boom")
