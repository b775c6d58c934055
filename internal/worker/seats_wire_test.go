package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
)

// A bulk backlog fills every seat of a model of 4 (its lane's own two and
// the interactive lane's two, lent), each job mid-answer; then an
// interactive job arrives. It asks the lent seat taken last back: that
// bulk job stops at its next flush, keeps every word, and goes on later
// on a seat of its lane's own, once, with its whole text and no output
// paid twice; the interactive job runs before it resumes; every job
// succeeds, each model call once but the displaced job's two; and the
// model never runs more than its 4 calls at once (it would refuse the
// fifth). The test is about order: the backlog's jobs hold their seats
// mid-answer until the interactive job has been claimed.
func TestWireAnInteractiveJobTakesBackASeatLentToABulkBacklog(t *testing.T) {
	t.Parallel()
	w := setupWire(t, wireOptions{maxReceiveCount: 5, visibilityTimeout: time.Minute})
	q := quota.Quota{Concurrency: 4, InteractiveShare: 0.25}
	lm := localmodel.New(localmodel.Options{TokensPerSecond: 500, MaxConcurrent: q.Concurrency})
	gate := make(chan struct{})
	held := &heldBulk{Model: lm, gate: gate, after: 10}
	model := &callLog{Model: held}
	claims := &claimLog{Store: w.store, gate: gate}
	sends := &sendLog{Lanes: w.queue}
	capacity := dynamo.NewCapacity(w.backend.Kumo.DynamoDB, w.backend.Table, nil)
	cfg := wireConfig(5)
	cfg.Quota, cfg.QueueURLs = q, w.backend.QueueURLs
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	wk, err := worker.New(claims, sends, model, cfg, worker.Options{Capacity: capacity, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	stop := runLanes(t, w, wk, q, logger)

	var words []string
	for i := range 40 {
		words = append(words, fmt.Sprintf("w%02d", i))
	}
	answer := strings.Join(words, " ")
	var bulk []jobs.Job
	for i := range 8 {
		bulk = append(bulk, w.submitJob(jobs.Job{Prompt: fmt.Sprintf("bulk %d\npromptq-echo\n%s", i, answer),
			Model: haiku55, MaxTokens: 200, Lane: jobs.LaneBulk}))
	}
	// Every seat held by the backlog, each job mid-answer.
	waitFor(t, func() bool { return held.waiting.Load() == int32(q.Concurrency) })
	seats, err := capacity.Seats(t.Context(), haiku55, q.Concurrency)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seats {
		if !s.Held(time.Now()) || s.Lane != jobs.LaneBulk || s.Lent != (s.Index >= q.Split().Bulk) {
			t.Fatalf("before the interactive job, seat %d is %+v; want every seat a bulk job's, the reserve lent", s.Index, s.Holder)
		}
	}
	interactive := w.submitJob(jobs.Job{Prompt: "interactive\npromptq-echo\nNow.", Model: haiku55, MaxTokens: 50})
	all := append(slices.Clone(bulk), interactive)
	waitFor(t, func() bool {
		for _, j := range all {
			if !w.job(j.ID).Status.Terminal() {
				return false
			}
		}
		return true
	})
	stop()

	// One bulk job displaced, once.
	displaced := map[string]int{}
	for _, m := range sends.all() {
		if m.Displaced > 0 {
			displaced[m.JobID] = max(displaced[m.JobID], m.Displaced)
		}
	}
	if len(displaced) != 1 {
		t.Fatalf("displaced %v, want one bulk job", displaced)
	}
	var moved jobs.Job
	for id, n := range displaced {
		if n != 1 {
			t.Errorf("job %s displaced %d times, want once", id, n)
		}
		moved = w.job(id)
	}
	if moved.Lane != jobs.LaneBulk {
		t.Fatalf("the displaced job is on the %s lane", moved.Lane)
	}
	// Its whole text, once; its output tokens its words; its second call
	// went on from the words the first had written.
	n := len(strings.Fields(moved.GeneratedText))
	if !strings.HasSuffix(moved.GeneratedText, "\n\n"+answer) || strings.Count(moved.GeneratedText, "w00") != 1 ||
		strings.Count(moved.GeneratedText, localmodel.Banner) != 1 {
		t.Errorf("the displaced job's text %q: want the banner, then the answer, once", moved.GeneratedText)
	}
	if moved.Tokens.Output != n || moved.Continuations != 1 || moved.Attempts != 2 {
		t.Errorf("the displaced job: %d output tokens for %d words, %d continuations, %d attempts; want its words, 1, 2",
			moved.Tokens.Output, n, moved.Continuations, moved.Attempts)
	}
	calls := map[string][]call{}
	for _, c := range model.all() {
		key, _, _ := strings.Cut(c.req.Prompt, "\n")
		calls[key] = append(calls[key], c)
	}
	for _, j := range all {
		key, _, _ := strings.Cut(j.Prompt, "\n")
		got, want := w.job(j.ID), 1
		if j.ID == moved.ID {
			want = 2
			if c := calls[key]; len(c) == 2 && (c[1].req.Continue == "" || !strings.HasPrefix(c[1].req.Continue, localmodel.Banner)) {
				t.Errorf("the displaced job's second call continued %q: want the words its first call wrote", c[1].req.Continue)
			}
		}
		if got.Status != jobs.StatusSucceeded || len(calls[key]) != want {
			t.Errorf("job %q: %s after %d model calls, want succeeded after %d", key, got.Status, len(calls[key]), want)
		}
		if got.Tokens.Output != len(strings.Fields(got.GeneratedText)) {
			t.Errorf("job %q: %d output tokens for %d words", key, got.Tokens.Output, len(strings.Fields(got.GeneratedText)))
		}
	}
	// The interactive job was claimed before the displaced job's second
	// claim.
	order := claims.all()
	at := func(id string, attempt int) int {
		for i, c := range order {
			if c.id == id && c.attempt == attempt {
				return i
			}
		}
		return -1
	}
	if i, d := at(interactive.ID, 1), at(moved.ID, 2); i < 0 || d < 0 || i > d {
		t.Errorf("the interactive job claimed %dth, the displaced job resumed %dth: want the interactive job first", i+1, d+1)
	}
	if s := lm.Stats(); s.Throttled != 0 || s.MaxRunning > q.Concurrency {
		t.Errorf("the model refused %d calls and ran %d at once, want none refused and at most %d", s.Throttled, s.MaxRunning, q.Concurrency)
	}
	for _, url := range []string{w.backend.QueueURLs[jobs.LaneBulk], w.queueURL, w.dlqURL} {
		if d := w.queueDepth(url); d != 0 {
			t.Errorf("%d messages left in %s", d, url)
		}
	}
	seats, err = capacity.Seats(t.Context(), haiku55, q.Concurrency)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seats {
		if s.Held(time.Now()) {
			t.Errorf("seat %d still held at the end: %+v", s.Index, s.Holder)
		}
	}
}

// runLanes runs wk behind a poller for each lane's queue, as the event
// source mappings do (one message an invocation, at most
// q.MappingConcurrency at once), until the returned stop is called.
func runLanes(t *testing.T, w *wire, wk *worker.Worker, q quota.Quota, logger *slog.Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var wg sync.WaitGroup
	for _, lane := range jobs.Lanes {
		p, err := esm.New(w.sqs, wk.Handle, esm.Options{
			QueueURL: w.backend.QueueURLs[lane], FunctionTimeout: time.Minute, BatchSize: 1,
			Concurrency: q.MappingConcurrency(lane), WaitTime: time.Second, ReleaseOnStop: true, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := p.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("the %s lane's poller: %v", lane, err)
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// heldBulk holds each bulk job's answer (its prompt starts "bulk") after
// its first words until gate opens, or its call is stopped: the backlog
// keeps every seat busy, mid-answer, until the test lets it go.
type heldBulk struct {
	worker.Model
	gate    <-chan struct{}
	after   int
	waiting atomic.Int32 // calls held at the gate now
}

func (h *heldBulk) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	if !strings.HasPrefix(req.Prompt, "bulk") {
		return h.Model.Generate(ctx, req, onDelta)
	}
	n := 0
	return h.Model.Generate(ctx, req, func(d string) {
		if n++; n == h.after {
			h.waiting.Add(1)
			select {
			case <-h.gate:
			case <-ctx.Done():
			}
			h.waiting.Add(-1)
		}
		onDelta(d) // streamed, so written: the model counts it
	})
}

// claimLog records the claims the worker makes, in order, and opens gate
// once an interactive job is claimed.
type claimLog struct {
	*dynamo.Store
	gate chan struct{}

	mu     sync.Mutex
	claims []claimed
	opened bool
}

type claimed struct {
	id      string
	attempt int
}

func (c *claimLog) Claim(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error) {
	j, err := c.Store.Claim(ctx, owner, id, lease)
	if err != nil {
		return j, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claims = append(c.claims, claimed{id, j.Attempts})
	if j.Lane.OrDefault() == jobs.LaneInteractive && !c.opened {
		c.opened = true
		close(c.gate)
	}
	return j, nil
}

func (c *claimLog) all() []claimed {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.claims)
}

// sendLog records the messages the worker sends back.
type sendLog struct {
	*sqsqueue.Lanes
	mu   sync.Mutex
	sent []jobs.Message
}

func (s *sendLog) SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error {
	err := s.Lanes.SendAfter(ctx, m, d)
	if err == nil {
		s.mu.Lock()
		s.sent = append(s.sent, m)
		s.mu.Unlock()
	}
	return err
}

func (s *sendLog) all() []jobs.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}
