package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// fakeShares grants slots while an owner holds fewer than share.
type fakeShares struct {
	mu       sync.Mutex
	share    int
	err      error
	held     map[string]bool // job ids holding a slot
	acquired []string
	until    []time.Time // each Acquire's, then each Renew's
	renewed  []string
	released []string
	lanes    []jobs.Lane
	caps     []int
	waiting  []string // owner's messages sent back: "lane/owner/n"
	received []string // messages of jobs run past the share: "lane/owner"
	// users and newcomers are what Active says: the lane's owners, and
	// the newcomers among them.
	users     int
	newcomers map[string]bool
}

func (s *fakeShares) Active(context.Context, jobs.Lane) (int, map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.users, 1), s.newcomers, nil
}

func (s *fakeShares) Received(_ context.Context, lane jobs.Lane, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, fmt.Sprintf("%s/%s", lane, owner))
	return nil
}

func (s *fakeShares) Acquire(_ context.Context, lane jobs.Lane, _, jobID string, capacity int, until time.Time) (quota.Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lanes, s.caps = append(s.lanes, lane), append(s.caps, capacity)
	s.until = append(s.until, until)
	if s.err != nil {
		return quota.SlotRefused, s.err
	}
	if s.held == nil {
		s.held = map[string]bool{}
	}
	switch {
	case s.held[jobID]:
		return quota.SlotHeld, nil
	case len(s.held) >= s.share:
		return quota.SlotRefused, nil
	}
	s.held[jobID] = true
	s.acquired = append(s.acquired, jobID)
	return quota.SlotTaken, nil
}

func (s *fakeShares) Waiting(_ context.Context, lane jobs.Lane, owner string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting = append(s.waiting, fmt.Sprintf("%s/%s/%d", lane, owner, n))
	return nil
}

func (s *fakeShares) Renew(_ context.Context, _ jobs.Lane, _, jobID string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewed = append(s.renewed, jobID)
	s.until = append(s.until, until)
	return nil
}

func (s *fakeShares) Release(_ context.Context, _ jobs.Lane, _, jobID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, jobID)
	s.released = append(s.released, jobID)
	return nil
}

// fakePacer answers Take from a list of waits, then 0.
type fakePacer struct {
	mu        sync.Mutex
	waits     []time.Duration
	taken     []int
	given     []int
	throttled int
}

func (p *fakePacer) Take(_ context.Context, _ string, _ jobs.Lane, tokens int) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waits) > 0 {
		w := p.waits[0]
		p.waits = p.waits[1:]
		if w > 0 {
			return w, nil
		}
	}
	p.taken = append(p.taken, tokens)
	return 0, nil
}

func (p *fakePacer) Give(_ context.Context, _ string, tokens int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.given = append(p.given, tokens)
	return nil
}

func (p *fakePacer) Throttled(context.Context, string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttled++
	return nil
}

// laneMessage is message with the body the API sends now: lane, model and
// token budget.
func laneMessage(j jobs.Job, receive int, lane jobs.Lane) events.SQSMessage {
	m := message(j, receive)
	j.Lane = lane
	msg := j.Message()
	m.Body = fmt.Sprintf(`{"job_id":%q,"owner":%q,"lane":%q,"model":%q,"tokens":%d}`, msg.JobID, msg.Owner, msg.Lane, msg.Model, msg.Tokens)
	m.EventSourceARN = "arn:aws:sqs:us-east-1:1:jobs"
	if lane == jobs.LaneBulk {
		m.EventSourceARN += "-bulk"
	}
	return m
}

// recordSentBack records each wait the worker records on job
// (Store.SentBack) and returns a function that lists them.
func recordSentBack(t *testing.T, b *bundle, job jobs.Job) func() []time.Duration {
	var mu sync.Mutex
	var got []time.Duration
	b.store.SentBackFunc = func(_ context.Context, o, id string, w jobs.Wait) error {
		if o != job.Owner || id != job.ID {
			t.Errorf("SentBack(%s, %s), want the job's", o, id)
		}
		// It says what the job waits for: its owner's share, or the pace.
		if w.Reason != jobs.WaitFairShare && w.Reason != jobs.WaitPace {
			t.Errorf("SentBack waiting for %q, want its fair share or the model's pace", w.Reason)
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, w.After)
		return nil
	}
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func setupAdmission(t *testing.T, sh *fakeShares, p *fakePacer) *bundle {
	t.Helper()
	b := setup(t, testConfig())
	if sh != nil {
		b.w.shares = sh
	}
	if p != nil {
		b.w.pacer = p
	}
	return b
}

func TestAThrottleIsNotAFailedTry(t *testing.T) {
	t.Parallel()
	for _, receive := range []int{1, 5} { // the 5th is the last
		t.Run("receive "+strconv.Itoa(receive), func(t *testing.T) {
			t.Parallel()
			p := &fakePacer{}
			b := setupAdmission(t, nil, p)
			job := newJob(3)
			job.Lane = jobs.LaneBulk
			b.store.ClaimFunc = claimReturns(t, job)
			released := false
			b.store.ReleaseFunc = func(context.Context, string, string, int, jobs.Wait) error { released = true; return nil }
			b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
				return jobs.Progress{}, &jobs.Error{Kind: jobs.KindRateLimited, Message: "Busy."}
			}
			resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, receive, jobs.LaneBulk)}})
			if len(resp.BatchItemFailures) != 0 {
				t.Errorf("the throttled message was reported failed (a receive used): %v", resp.BatchItemFailures)
			}
			if !released {
				t.Error("the job was not given back")
			}
			sent := b.queue.sentAgain()
			if len(sent) != 1 {
				t.Fatalf("sent %+v, want the job's message once more", sent)
			}
			m := sent[0].msg
			if m.JobID != job.ID || m.Lane != jobs.LaneBulk || m.Throttles != 1 || m.ThrottledSince != b.clock.Now().Unix() {
				t.Errorf("sent %+v, want the job on its lane with 1 throttle since now", m)
			}
			if sent[0].delay != 2*time.Second {
				t.Errorf("delay %v, want the first throttle's backoff, 2s", sent[0].delay)
			}
			if p.throttled != 1 || len(p.given) != 1 || p.given[0] != p.taken[0] {
				t.Errorf("pace: throttled %d, took %v, gave back %v; want one throttle and every token back", p.throttled, p.taken, p.given)
			}
		})
	}
}

func TestThrottleBackoffGrowsAndTheJobFailsOnlyAfterTheCap(t *testing.T) {
	t.Parallel()
	b := setupAdmission(t, nil, nil)
	job := newJob(9)
	b.store.ClaimFunc = claimReturns(t, job)
	var releasedFor []time.Duration
	b.store.ReleaseFunc = func(_ context.Context, o, id string, _ int, w jobs.Wait) error {
		if o != job.Owner || id != job.ID {
			t.Errorf("Release(%s, %s), want the job's", o, id)
		}
		if w.Reason != jobs.WaitThrottled {
			t.Errorf("released waiting for %q, want throttled", w.Reason)
		}
		releasedFor = append(releasedFor, w.After)
		return nil
	}
	b.store.SentBackFunc = func(context.Context, string, string, jobs.Wait) error {
		t.Error("SentBack of a released job: the release records when its message comes back")
		return nil
	}
	var failures []jobs.Failure
	b.store.FailFunc = func(_ context.Context, _, _ string, _ int, f jobs.Failure) error {
		failures = append(failures, f)
		return nil
	}
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		return jobs.Progress{}, &jobs.Error{Kind: jobs.KindRateLimited, Message: "Busy."}
	}
	deliver := func(throttles int, since time.Time) {
		t.Helper()
		m := message(job, 1)
		m.Body = fmt.Sprintf(`{"job_id":%q,"owner":%q,"throttles":%d,"throttled_since":%d}`, job.ID, job.Owner, throttles, since.Unix())
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{m}})
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("reported failed: %v", resp.BatchItemFailures)
		}
	}
	start := b.clock.Now()
	deliver(3, start)
	if got := b.queue.sentAgain(); len(got) != 1 || got[0].delay != 16*time.Second || got[0].msg.Throttles != 4 || got[0].msg.ThrottledSince != start.Unix() {
		t.Fatalf("after a 4th throttle sent %+v, want 16s and the first throttle's time kept", got)
	}
	// The release records when it comes back, for replays and pollers.
	if len(releasedFor) != 1 || releasedFor[0] != 16*time.Second {
		t.Errorf("released to come back after %v, want 16s", releasedFor)
	}
	deliver(30, start)
	if got := b.queue.sentAgain(); len(got) != 2 || got[1].delay != 5*time.Minute {
		t.Fatalf("backoff after many throttles %+v, want the cap of 5m", got)
	}
	if len(failures) != 0 {
		t.Fatalf("failed %+v before the cap", failures)
	}
	b.clock.Advance(6 * time.Hour)
	deliver(31, start)
	if len(failures) != 1 || failures[0].Code != jobs.FailureThrottled || len(b.queue.sentAgain()) != 2 {
		t.Fatalf("after 6h of throttles: failures %+v, sent %d; want the job failed as throttled and nothing sent", failures, len(b.queue.sentAgain()))
	}
}

func TestAnOwnerOverTheirFairShareWaitsWithoutClaimingTheJob(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 0}
	b := setupAdmission(t, sh, nil)
	job := newJob(1) // Claim is not set: a call fails the test
	sentBack := recordSentBack(t, b, job)
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported failed: %v", resp.BatchItemFailures)
	}
	sent := b.queue.sentAgain()
	// Its owner's first job sent back: it waits the least, and at most a
	// quarter more (the fakes' jitter draws the most), never less.
	want := fairRetryMin + fairRetryMin/4
	if len(sent) != 1 || sent[0].msg.JobID != job.ID || sent[0].delay != want {
		t.Fatalf("sent %+v, want the job back after %v", sent, want)
	}
	// Sending it back counts as taking it: the job says when its one
	// message comes back, so a replay meanwhile sends no other.
	if got := sentBack(); !slices.Equal(got, []time.Duration{want}) {
		t.Errorf("recorded as sent back for %v, want [%v]", got, want)
	}
	if sh.lanes[0] != jobs.LaneBulk || sh.caps[0] != testConfig().Quota.Split().Bulk {
		t.Errorf("asked for a share of lane %s with capacity %d, want bulk with %d", sh.lanes[0], sh.caps[0], testConfig().Quota.Split().Bulk)
	}
	// Refused, its message still counts as waiting: nothing to add.
	if len(sh.waiting) != 0 {
		t.Errorf("told the shares %v of a job they refused, which they count still", sh.waiting)
	}
}

func TestAJobWithinItsShareAndPaceRunsAndGivesBackWhatItDidNotUse(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 1}
	p := &fakePacer{waits: []time.Duration{2 * time.Second}} // short: wait in place
	b := setupAdmission(t, sh, p)
	job := newJob(1)
	b.store.ClaimFunc = claimReturns(t, job)
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		return jobs.Progress{GeneratedText: "hi", Tokens: jobs.Tokens{Input: 10, Output: 30}, StopReason: "end_turn"}, nil
	}
	start := b.clock.Now()
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if len(resp.BatchItemFailures) != 0 || len(b.queue.sentAgain()) != 0 {
		t.Fatalf("failures %v, sent %v", resp.BatchItemFailures, b.queue.sentAgain())
	}
	if waited := b.clock.Now().Sub(start); waited < 2*time.Second {
		t.Errorf("waited %v for the pace, want at least the 2s it said", waited)
	}
	reserved := job.Request().TokenBudget()
	if len(p.taken) != 1 || p.taken[0] != reserved || len(p.given) != 1 || p.given[0] != reserved-40 {
		t.Errorf("took %v, gave back %v; want %d and %d", p.taken, p.given, reserved, reserved-40)
	}
	if len(sh.released) != 1 || len(sh.held) != 0 {
		t.Errorf("slots released %v, still held %v", sh.released, sh.held)
	}
}

// A fair-share slot is a lease as long as the job's: a slot its worker
// could not give back, or whose worker died, holds its owner back for a
// minute at most, not the rest of a 15-minute invocation. The running job
// renews it once half of it is left.
func TestARunningJobRenewsItsFairShareSlot(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 1}
	b := setupAdmission(t, sh, nil)
	job := newJob(1)
	b.store.ClaimFunc = claimReturns(t, job)
	saves := make(chan jobs.Progress, 10)
	b.store.SaveProgressFunc = func(_ context.Context, _, _ string, _ int, p jobs.Progress, _ time.Duration) error {
		saves <- p
		return nil
	}
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	step, applied := steppedModel(b)
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
		done <- resp
	}()
	ctx := t.Context()
	start := b.clock.Now()
	step <- "a"
	<-applied
	b.clock.Tick(ctx)
	<-saves // the first text; the slot has most of its lease left
	b.clock.Advance(31 * time.Second)
	b.clock.Tick(ctx)
	<-saves // a heartbeat, after the renewal in the same tick
	b.clock.Tick(ctx)
	close(step)
	<-done

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.renewed) != 1 || sh.renewed[0] != job.ID {
		t.Fatalf("renewed %v, want the job's slot once", sh.renewed)
	}
	if want := []time.Time{start.Add(time.Minute), start.Add(31*time.Second + time.Minute)}; !slices.Equal(sh.until, want) {
		t.Errorf("the slot lapses at %v, want %v (a lease of a minute, then another from the renewal)", sh.until, want)
	}
	if len(sh.released) != 1 {
		t.Errorf("released %v, want the slot given back at the end", sh.released)
	}
}

// A copy of a job's message (a replay's, a rescue's, a duplicate
// delivery) that arrives while the job runs in another worker finds the
// job's slot held: it is admitted, cannot claim the job, and leaves the
// slot to the worker running the job. Giving it back would let the owner
// start one job over their share until that worker's next renewal.
func TestACopyThatCannotClaimTheJobLeavesItsSlot(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 1, held: map[string]bool{}}
	b := setupAdmission(t, sh, nil)
	job := newJob(1)
	sh.held[job.ID] = true // the worker running the job took it
	b.store.ClaimFunc = func(context.Context, string, string, time.Duration) (jobs.Job, error) {
		return jobs.Job{Status: jobs.StatusRunning, Attempts: 1, LeaseUntil: b.clock.Now().Add(45 * time.Second)}, jobs.ErrConflict
	}
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported failed: %v, want the copy dropped", resp.BatchItemFailures)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.released) != 0 || len(sh.renewed) != 0 || !sh.held[job.ID] {
		t.Errorf("released %v, renewed %v; want the slot left to the job's worker", sh.released, sh.renewed)
	}
}

// A message whose job's slot is held, and which then claims the job (the
// worker holding it died, and its lease lapsed), takes the slot over: it
// renews it at once, as its own lease, and gives it back at the end.
func TestAMessageThatClaimsTheJobTakesItsSlotOver(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 1, held: map[string]bool{}}
	b := setupAdmission(t, sh, nil)
	job := newJob(2)
	sh.held[job.ID] = true // the dead worker's
	b.store.ClaimFunc = claimReturns(t, job)
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		return jobs.Progress{GeneratedText: "hi", StopReason: "end_turn"}, nil
	}
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported failed: %v", resp.BatchItemFailures)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !slices.Equal(sh.renewed, []string{job.ID}) || !slices.Equal(sh.released, []string{job.ID}) {
		t.Errorf("renewed %v, released %v; want the job's slot renewed once at the claim and given back", sh.renewed, sh.released)
	}
	if want := b.clock.Now().Add(time.Minute); len(sh.until) != 2 || !sh.until[1].Equal(want) {
		t.Errorf("slot lapses at %v, want the renewal's lease to end at %v", sh.until, want)
	}
}

func TestALongPaceWaitSendsTheJobBackAndFreesItsSlot(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 1}
	p := &fakePacer{waits: []time.Duration{40 * time.Second}}
	b := setupAdmission(t, sh, p)
	job := newJob(1) // no Claim: the job is not claimed
	sentBack := recordSentBack(t, b, job)
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported failed: %v", resp.BatchItemFailures)
	}
	sent := b.queue.sentAgain()
	if len(sent) != 1 || sent[0].delay < 40*time.Second || sent[0].delay > 51*time.Second {
		t.Fatalf("sent %+v, want the job back after its 40s wait and some jitter", sent)
	}
	if got := sentBack(); !slices.Equal(got, []time.Duration{sent[0].delay}) {
		t.Errorf("recorded as sent back for %v, want [%v], its message's delay", got, sent[0].delay)
	}
	if len(sh.held) != 0 || len(sh.released) != 1 {
		t.Errorf("the slot was kept: held %v", sh.held)
	}
	if len(p.given) != 0 {
		t.Errorf("gave back %v tokens it never took", p.given)
	}
	// Admitted, its message was taken off its owner's count of messages
	// waiting; sent back, it is counted again.
	if want := "bulk/" + job.Owner + "/1"; len(sh.waiting) != 1 || sh.waiting[0] != want {
		t.Errorf("told the shares %v, want [%s]", sh.waiting, want)
	}
}

func TestAJobThatEndedGivesBackItsReservation(t *testing.T) {
	t.Parallel()
	p := &fakePacer{}
	b := setupAdmission(t, nil, p)
	job := newJob(1)
	b.store.ClaimFunc = func(context.Context, string, string, time.Duration) (jobs.Job, error) {
		return jobs.Job{Status: jobs.StatusCancelled}, jobs.ErrConflict
	}
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if len(p.given) != 1 || p.given[0] != p.taken[0] {
		t.Errorf("took %v, gave back %v; want all of it back", p.taken, p.given)
	}
}

func TestAnOldMessageGetsItsModelAndTokensFromTheJob(t *testing.T) {
	t.Parallel()
	p := &fakePacer{}
	b := setupAdmission(t, nil, p)
	job := newJob(1)
	job.Status = jobs.StatusQueued
	b.store.GetFunc = func(context.Context, string, string) (jobs.Job, error) { return job, nil }
	b.store.ClaimFunc = func(context.Context, string, string, time.Duration) (jobs.Job, error) {
		return jobs.Job{Status: jobs.StatusSucceeded}, jobs.ErrConflict
	}
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}})
	if len(p.taken) != 1 || p.taken[0] != job.Request().TokenBudget() {
		t.Errorf("took %v, want the job's budget %d", p.taken, job.Request().TokenBudget())
	}
}

func TestChecksThatCannotBeMadeLetTheJobRun(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{err: errors.New("dynamodb: throttled")}
	b := setupAdmission(t, sh, nil)
	job := newJob(1)
	claimed := false
	b.store.ClaimFunc = func(context.Context, string, string, time.Duration) (jobs.Job, error) {
		claimed = true
		return jobs.Job{Status: jobs.StatusSucceeded}, jobs.ErrConflict
	}
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if !claimed {
		t.Error("the job was not claimed when the fair-share check failed")
	}
}

func TestAFailedResendUsesAReceiveInstead(t *testing.T) {
	t.Parallel()
	sh := &fakeShares{share: 0}
	b := setupAdmission(t, sh, nil)
	b.queue.SendAfterFunc = func(context.Context, jobs.Message, time.Duration) error { return errors.New("sqs down") }
	job := newJob(1)
	sentBack := recordSentBack(t, b, job)
	m := laneMessage(job, 1, jobs.LaneBulk)
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{m}})
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures %v, want the message back", resp.BatchItemFailures)
	}
	d, ok := b.queue.visibility(m.ReceiptHandle)
	if !ok || d < fairRetryMin/2 {
		t.Errorf("visibility %v (%v), want the fair-share wait", d, ok)
	}
	// This copy comes back when the job says its message does: still one
	// live message, due then.
	if got := sentBack(); !slices.Equal(got, []time.Duration{d}) {
		t.Errorf("recorded as sent back for %v, want [%v], this message's visibility", got, d)
	}
	b.queue.mu.Lock()
	lane := b.queue.lanes[m.ReceiptHandle]
	b.queue.mu.Unlock()
	if lane != jobs.LaneBulk {
		t.Errorf("visibility changed on the %s lane's queue, want bulk (the event's source)", lane)
	}
}
