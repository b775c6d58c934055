package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// shares holds each owner to a fair share of a lane's concurrency
// (internal/dynamo.Shares): Acquire admits a job unless its owner already
// runs their share, and says whether it took a slot for the job to give
// back (one that lapses at until if it never is, unless Renew extends it)
// or found the job holding one already, for another of its messages.
// Received takes a message of a job that runs past its owner's share (on
// a borrowed seat) off the owner's count of messages waiting, as Acquire
// does for the jobs it admits. Active is the lane's owners as Acquire last
// counted them: how many, and the newcomers among them (messages waiting,
// none received lately).
type shares interface {
	Acquire(ctx context.Context, lane jobs.Lane, owner, jobID string, capacity int, until time.Time) (quota.Slot, error)
	Renew(ctx context.Context, lane jobs.Lane, owner, jobID string, until time.Time) error
	Release(ctx context.Context, lane jobs.Lane, owner, jobID string) error
	Waiting(ctx context.Context, lane jobs.Lane, owner string, n int) error
	Received(ctx context.Context, lane jobs.Lane, owner string) error
	Active(ctx context.Context, lane jobs.Lane) (users int, newcomers map[string]bool, err error)
}

// pacer keeps the tokens asked of a model under its tokens-per-minute quota
// (internal/dynamo.Pacer): Take reserves a job's worst case or says how long
// to wait, Give returns what a job did not use, Throttled slows every worker
// down after the model refused a call.
type pacer interface {
	Take(ctx context.Context, model string, lane jobs.Lane, tokens int) (time.Duration, error)
	Give(ctx context.Context, model string, tokens int) error
	Throttled(ctx context.Context, model string) error
}

const (
	// paceSleepMax is the longest a worker waits in place for the model's
	// pace; a longer wait sends the job's message back with that delay
	// instead, which frees the worker.
	paceSleepMax = 5 * time.Second
	// maxDelay is the longest SQS delays a message (DelaySeconds): a longer
	// wait comes back after it and waits again.
	maxDelay = 15 * time.Minute
)

// capacity keeps the model's seats, how many generations run on it at
// once whatever their lane (internal/dynamo.Capacity): Seats reads them,
// Take and AskBack write one on the condition that it is still as read
// (jobs.ErrConflict otherwise), Renew extends a seat's lease, Release
// gives it back, and AskedBack tells the holder of a lent seat whether a
// job asked for it. Which seat a job may take is
// quota.Quota.Choose's rule.
type capacity interface {
	Seats(ctx context.Context, model string, n int) ([]quota.Seat, error)
	Take(ctx context.Context, model string, s quota.Seat, h quota.Holder) error
	AskBack(ctx context.Context, model string, s quota.Seat, job string) error
	Renew(ctx context.Context, model string, index int, job string, until time.Time) error
	Release(ctx context.Context, model string, index int, job string) error
	AskedBack(ctx context.Context, model string, index int, job string) (bool, error)
}

// admission is what a job holds while it may run: a slot of its owner's
// fair share, a seat of the model, and the tokens it reserved of the
// model's pace. close gives back what it did not use.
type admission struct {
	w     *Worker
	at    *attempt // the message's, whose log it writes to
	lane  jobs.Lane
	owner string
	jobID string
	model string

	slot     bool // holds a fair-share slot: renews it, gives it back
	heldSlot bool // the job held a slot already (another message's): this one's if it claims the job
	// pastShare: the owner runs their fair share of the lane already; the
	// job may run only on a free seat it borrows, lent (takeSeat).
	pastShare bool
	capacity  int // the lane's capacity its fair shares are of
	// counted: the job's message is off its owner's count of messages
	// waiting in the lane (the fair shares admitted it), so a message
	// sent back for it is counted again (putOff.counted).
	counted  bool
	until    time.Time // when the slot lapses unless renewed
	renewAt  time.Time // no renewal before then (after a failed one)
	seat     *heldSeat // the model's seat the job holds (nil: none)
	reserved int       // tokens taken from the pace (0: none)
	ran      bool      // the model was called
	settled  bool      // actual holds the tokens the call used
	actual   int
}

// renew extends the job's fair-share slot and its seat of the model,
// leases, while the job runs. Called by the job's flusher alone (and, at a
// takeover, by claimed before the flusher starts).
func (a *admission) renew(ctx context.Context, now time.Time) {
	a.renewSlot(ctx, now)
	a.renewSeat(ctx, now)
}

// renewSlot extends the job's fair-share slot once half of its lease is
// left, to another lease. A renewal that fails is tried again renewRetry
// later; the slot lapsing meanwhile only lets its owner start one more job
// than their share.
func (a *admission) renewSlot(ctx context.Context, now time.Time) {
	if !a.slot || a.until.Sub(now) > a.w.cfg.Lease/2 || now.Before(a.renewAt) {
		return
	}
	until := a.w.slotUntil(ctx)
	if !until.After(a.until) {
		return // the invocation's deadline: the slot ends with it
	}
	if err := a.w.shares.Renew(ctx, a.lane, a.owner, a.jobID, until); err != nil {
		a.at.log.WarnContext(ctx, "could not renew the job's fair-share slot; trying again shortly", "error", err)
		a.renewAt = now.Add(renewRetry)
		return
	}
	a.until = until
}

// renewRetry is how long after a failed renewal of a slot the next is
// tried.
const renewRetry = 5 * time.Second

// claimed records that the job is claimed by this message's worker. A slot
// or a seat the job held already, for another of its messages, was that
// message's worker's; that worker has given the job up (its lease lapsed,
// or it released the job), so this one takes them over: renews them now
// and gives them back at the end. A copy that could not claim the job
// never touches them.
func (a *admission) claimed(ctx context.Context) {
	if a.heldSlot {
		a.slot, a.heldSlot, a.until = true, false, time.Time{}
		a.renewSlot(ctx, a.w.now())
	}
	if a.seat != nil && !a.seat.mine {
		a.seat.mine, a.seat.until = true, time.Time{}
		a.renewSeat(ctx, a.w.now())
	}
}

// calling records that the model is about to be called.
func (a *admission) calling() { a.ran = true }

// used records the tokens the model's call used.
func (a *admission) used(n int) { a.settled, a.actual = true, n }

// close gives back the fair-share slot and the reserved tokens the job did
// not use: all of them if the model was never called, the difference if
// its use is known, none if the call failed and its use is not (the safe
// side for the quota). It runs even when the invocation's context has just
// been cancelled.
func (a *admission) close(ctx context.Context) {
	a.giveSeatBack(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if a.slot {
		if err := a.w.shares.Release(cctx, a.lane, a.owner, a.jobID); err != nil {
			// The slot lapses at the invocation's deadline anyway.
			a.w.log.WarnContext(ctx, "could not give back the job's fair-share slot; it lapses at the deadline", "job_id", a.jobID, "error", err)
		}
	}
	if a.reserved > 0 {
		back := 0
		switch {
		case !a.ran:
			back = a.reserved
		case a.settled:
			back = a.reserved - a.actual
		}
		if err := a.w.pacer.Give(cctx, a.model, back); err != nil {
			a.w.log.WarnContext(ctx, "could not give unused tokens back to the model's pace", "job_id", a.jobID, "error", err)
		}
	}
}

// admit decides whether the job of msg may start now: its owner must run
// fewer of the lane's jobs than their fair share, the model's pace must
// have room for the job's worst case, and the job must take a seat of the
// model (takeSeat). If it may, the caller runs it and closes the
// admission; if not, the job's message has been sent again to come back
// when there may be room, and the outcome says what to do with this one. A
// check that cannot be made (the store unreachable) lets the job run: the
// claim, and the model's own throttling, still guard it.
func (w *Worker) admit(ctx context.Context, at *attempt) (*admission, outcome, bool) {
	msg, log := at.msg, at.log
	a := &admission{w: w, at: at, lane: msg.Lane.OrDefault(), owner: msg.Owner, jobID: msg.JobID, model: msg.Model}
	if w.shares == nil && w.pacer == nil && w.capacity == nil {
		return a, ack, true
	}
	tokens := msg.Tokens
	if a.model == "" || tokens <= 0 {
		// A message from before messages carried these: ask the job.
		j, err := w.store.Get(ctx, msg.Owner, msg.JobID)
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			log.ErrorContext(ctx, "the message names no existing job; it will go to the dead-letter queue")
			return nil, retryAfter(0), false
		case err != nil:
			log.WarnContext(ctx, "could not read the job to check its share and pace; running it unchecked", "error", err)
			return a, ack, true
		case j.Status.Terminal():
			log.InfoContext(ctx, "job already ended; nothing to do", "status", j.Status)
			return nil, ack, false
		}
		a.model, a.lane, tokens = j.Model, j.Lane, j.Request().TokenBudget()
	}

	if w.shares != nil {
		if o, ok := a.fairShare(ctx); !ok {
			return nil, o, false
		}
	}
	if w.pacer != nil {
		if o, ok := a.pace(ctx, tokens); !ok {
			return nil, o, false
		}
	}

	// The seat last: a job holding one is either generating, with a
	// flusher that gives a lent seat back when asked, or about to; a seat
	// held through a wait for the pace could not be asked back.
	if w.capacity != nil {
		if o, ok := a.takeSeat(ctx); !ok {
			return nil, o, false
		}
	}
	return a, ack, true
}

// fairShare takes a slot of the owner's fair share of the lane, or, when
// the owner already runs their share, sends the job's message back to
// come back about when the lane gets to it, and ok is false with what to
// do with this message.
func (a *admission) fairShare(ctx context.Context) (o outcome, ok bool) {
	w, log := a.w, a.at.log
	capacity := w.shareCapacity(ctx, log, a.lane, a.model)
	a.until = w.slotUntil(ctx)
	slot, err := w.shares.Acquire(ctx, a.lane, a.owner, a.jobID, capacity, a.until)
	switch {
	case err != nil:
		log.WarnContext(ctx, "could not check the owner's fair share; running the job anyway", "error", err)
	case !slot.Admitted():
		a.capacity = capacity
		_, newcomers, err := w.shares.Active(ctx, a.lane)
		if err != nil {
			newcomers = nil
		}
		if a.mayBorrow(ctx, newcomers) {
			a.pastShare = true
			break
		}
		return a.overShare(ctx, capacity), false
	default:
		a.slot, a.heldSlot, a.counted = slot == quota.SlotTaken, slot == quota.SlotHeld, true
	}
	return ack, true
}

// overShare sends the message of a job whose owner runs their fair share
// of the lane (of capacity jobs at once) already back to come back about
// when the lane could get to it (lineup), and says what to do with this
// one. The wait is drawn from a quarter above that, not below.
func (a *admission) overShare(ctx context.Context, capacity int) outcome {
	w := a.w
	wait := w.lineup.sentBack(a.lane, a.owner, a.jobID, capacity, w.laneQueued(ctx, a.at.log, a.lane), w.now())
	wait += time.Duration(w.jitter(int64(wait/4) + 1))
	return w.deferJob(ctx, a.at, a.at.msg, putOff{after: wait, why: "its owner already runs their fair share of the lane", reason: jobs.WaitFairShare})
}

// mayBorrow reports whether a job whose owner runs their fair share of
// the lane already may try to borrow a free seat of the model past it
// (quota.Asker.PastShare): a bulk job never displaced, when the model's
// seats, as read at most borrowFresh ago (or afresh), have one free for
// it, and no newcomer to the lane (newcomers: messages waiting, none
// received lately) holds none of them. So no seat sits idle while a
// backlog waits behind its owner's share; but while a newcomer's messages
// wait behind that
// backlog in a queue that hands messages out first in, first out (the
// local stand-in; SQS fair queues hand out a quiet owner's first), the
// backlog's messages go back at once rather than take every seat that
// frees, so the workers get through them to the newcomer's, which then
// take seats as they free or ask borrowed ones back. A backlog whose
// messages keep coming back while every seat is busy costs no more reads
// than before.
func (a *admission) mayBorrow(ctx context.Context, newcomers map[string]bool) bool {
	w := a.w
	if w.capacity == nil || a.lane != jobs.LaneBulk || a.at.msg.Displaced > 0 {
		return false
	}
	now := w.now()
	w.mu.Lock()
	c, ok := w.seatsCache[a.model]
	w.mu.Unlock()
	if !ok || now.Sub(c.at) >= borrowFresh || now.Before(c.at) {
		seats, err := w.capacity.Seats(ctx, a.model, w.cfg.Quota.Concurrency)
		if err != nil {
			return false
		}
		c = w.cacheSeats(a.model, seats, now)
	}
	holding := map[string]bool{}
	for _, s := range c.seats {
		if s.Held(now) {
			holding[s.Owner] = true
		}
	}
	for owner := range newcomers {
		if owner != a.owner && !holding[owner] {
			return false
		}
	}
	return w.cfg.Quota.Choose(c.seats, a.asker(), now).Action == quota.Take
}

// borrowFresh is how old a read of the model's seats may be for a job past
// its owner's share to be sent back without reading them again: a seat
// freed since waits at most this long for a job that may borrow it.
const borrowFresh = 250 * time.Millisecond

// asker is the job as it chooses a seat of the model.
func (a *admission) asker() quota.Asker {
	return quota.Asker{Job: a.jobID, Owner: a.owner, Lane: a.lane, Displaced: a.at.msg.Displaced > 0, PastShare: a.pastShare}
}

// pace reserves the job's worst case, tokens, of the model's pace: at
// once, or after a wait in place of at most paceSleepMax; a longer wait
// sends the job's message back with that delay, and ok is false with what
// to do with this message.
func (a *admission) pace(ctx context.Context, tokens int) (o outcome, ok bool) {
	w := a.w
	for {
		wait, err := w.pacer.Take(ctx, a.model, a.lane, tokens)
		if err != nil {
			a.at.log.WarnContext(ctx, "could not check the model's pace; running the job anyway", "error", err)
			return ack, true
		}
		if wait == 0 {
			a.reserved = tokens
			return ack, true
		}
		// Jitter, so workers waiting for the same refill do not all
		// come back at the same moment.
		wait += time.Duration(w.jitter(int64(wait/4) + 1))
		if d, ok := ctx.Deadline(); wait > paceSleepMax || ok && w.now().Add(wait).After(d.Add(-w.cfg.DeadlineMargin)) {
			a.close(ctx) // the fair-share slot and the seat, if any
			return w.deferJob(ctx, a.at, a.at.msg, putOff{after: wait, why: "the model's tokens-per-minute quota has no room yet", counted: a.counted, reason: jobs.WaitPace}), false
		}
		if err := w.sleep(ctx, wait); err != nil {
			a.close(ctx)
			return retryAfter(0), false
		}
	}
}

// slotUntil is when a fair-share slot taken or renewed now lapses if it is
// never given back: a lease as long as the job's own (Config.Lease), and
// never after the invocation's deadline, by which the worker is gone. A
// slot that could not be given back (the table unreachable for a moment)
// or whose worker died keeps its owner from a share of the lane for at
// most that long; the running job's flusher renews it (admission.renew).
func (w *Worker) slotUntil(ctx context.Context) time.Time {
	until := w.now().Add(w.cfg.Lease)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		return d
	}
	return until
}

// putOff says how a job waits: its message comes back after `after`, for
// the reason why (reason, as the job records it: jobs.Wait).
type putOff struct {
	after  time.Duration
	why    string
	reason jobs.WaitReason
	// counted: the fair shares took the job's message off its owner's
	// count of messages waiting (Shares.Acquire admitted it), so the new
	// message is counted again.
	counted bool
	// released: this worker claimed the job and gave it back with Release,
	// which recorded when its message comes back (or, if it failed, left
	// the job running, with nothing to record).
	released bool
}

// wait is what the job records of p: why it waits and for how long.
func (p putOff) wait() jobs.Wait { return jobs.Wait{Reason: p.reason, After: p.after} }

// sendDelay is the delay of a message sent to come back after d: at least
// a second, at most SQS's longest delay.
func sendDelay(d time.Duration) time.Duration { return min(max(d, time.Second), maxDelay) }

// deferJob sends msg again to come back after p.after and acknowledges
// this copy: waiting costs a new message, never one of the job's receives.
// If the send fails, this copy comes back after p.after instead (using a
// receive). Either way the job's one live message comes back then, and the
// job says so (Store.SentBack, unless Release did): a client's replay
// counts from then, so replays of a job its lane keeps putting off add no
// messages, and GET /jobs/{id} tells its pollers when to look again.
func (w *Worker) deferJob(ctx context.Context, at *attempt, msg jobs.Message, p putOff) outcome {
	log := at.log
	d := sendDelay(p.after)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var noted chan struct{}
	if !p.released {
		// Written while the message is sent, not after: a worker sending
		// back a backlog spends one round trip a job on it, not two, and
		// is sooner free for the next message (another user's, maybe).
		// Written before the new message can be received (SQS delays it at
		// least a second), and true whether the send works or not.
		noted = make(chan struct{})
		go func() {
			defer close(noted)
			if err := w.store.SentBack(sctx, msg.Owner, msg.JobID, jobs.Wait{Reason: p.reason, After: d}); err != nil {
				log.WarnContext(ctx, "could not record when the job's message comes back; a replay meanwhile may send another", "error", err)
			}
		}()
	}
	err := w.queue.SendAfter(sctx, msg, d)
	if noted != nil {
		<-noted
	}
	if err != nil {
		log.WarnContext(ctx, "the job must wait, but its message could not be sent again; this one comes back instead",
			"why", p.why, "retry_in", d.String(), "error", err)
		return retryAfter(d)
	}
	log.DebugContext(ctx, "job waits; its message comes back later", "why", p.why, "retry_in", d.String())
	if p.counted && w.shares != nil {
		// Its owner counts in the lane's shares while it waits, however
		// long the queue takes to hand it out again.
		if err := w.shares.Waiting(sctx, msg.Lane.OrDefault(), msg.Owner, 1); err != nil {
			log.WarnContext(ctx, "could not record that the job waits in its lane", "error", err)
		}
	}
	return ack
}

// laneQueued is how many jobs wait in lane's queue, asked of the queue at
// most every queuedFor by this worker, or -1 if unknown.
func (w *Worker) laneQueued(ctx context.Context, log *slog.Logger, lane jobs.Lane) int {
	if w.queued == nil {
		return -1
	}
	now := w.now()
	w.mu.Lock()
	c, ok := w.queuedCache[lane]
	w.mu.Unlock()
	if ok && now.Sub(c.at) < queuedFor && !now.Before(c.at) {
		return c.n
	}
	n, err := w.queued.Queued(ctx, lane)
	if err != nil {
		log.WarnContext(ctx, "could not count the lane's queue", "error", err)
		n = -1
	}
	w.mu.Lock()
	w.queuedCache[lane] = queuedCount{n: n, at: now}
	w.mu.Unlock()
	return n
}

// queuedFor is how long a worker reuses its count of a lane's queue: one
// request every few seconds, however many jobs it sends back.
const queuedFor = 5 * time.Second

type queuedCount struct {
	n  int
	at time.Time
}

// throttled handles a call the model refused for its quota: the pace slows
// every worker down, the job is given back (a throttle is not a failed
// try) and comes back after a backoff that grows with its throttles. Only
// a job throttled for longer than ThrottleGiveUpAfter fails.
func (w *Worker) throttled(ctx context.Context, at *attempt, cause error) outcome {
	job, msg, log := at.job, at.msg, at.log
	now := w.now()
	since := msg.ThrottledSince
	if since == 0 {
		since = now.Unix()
	}
	if w.pacer != nil {
		if err := w.pacer.Throttled(ctx, job.Model); err != nil {
			log.WarnContext(ctx, "could not slow the model's pace down after a throttle", "error", err)
		}
	}
	if waited := now.Sub(time.Unix(since, 0)); waited >= w.cfg.ThrottleGiveUpAfter {
		f := jobs.Failure{Code: jobs.FailureThrottled, Message: fmt.Sprintf(
			"The model's quota had no room for this job for %s: it was refused %d times. Try again later; the operator can raise the model's quota.",
			w.cfg.ThrottleGiveUpAfter, msg.Throttles+1)}
		if err := w.store.Fail(ctx, job.Owner, job.ID, job.Attempts, f); err != nil && !errors.Is(err, jobs.ErrConflict) {
			log.ErrorContext(ctx, "could not fail a job throttled for too long; the message will come back", "error", err)
			return retryAfter(w.backoff(1))
		}
		log.WarnContext(ctx, "job failed: throttled for too long", "throttles", msg.Throttles+1, "waited", waited.String())
		return ack
	}

	next := job.Message()
	next.Throttles, next.ThrottledSince, next.Displaced = msg.Throttles+1, since, msg.Displaced
	wait := putOff{after: sendDelay(w.throttleBackoff(next.Throttles)), why: "the model refused it for its quota", counted: true, released: true,
		reason: jobs.WaitThrottled}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.store.Release(rctx, job.Owner, job.ID, job.Attempts, wait.wait()); err != nil {
		// The job becomes claimable when its lease lapses: the message
		// must not come back before.
		log.WarnContext(ctx, "throttled; could not release the job, so its message comes back after the lease", "error", err)
		wait.after = max(wait.after, w.cfg.Lease+time.Second)
	}
	log.InfoContext(ctx, "throttled by the model; the job waits and comes back", "throttles", next.Throttles,
		"retry_in", wait.after.String(), "cause", cause)
	return w.deferJob(ctx, at, next, wait)
}

// throttleBackoff is the wait after a job's nth throttle: ThrottleBackoffBase
// doubled per earlier throttle, capped at ThrottleBackoffMax, drawn from its
// upper half.
func (w *Worker) throttleBackoff(n int) time.Duration {
	return jittered(w.cfg.ThrottleBackoffBase, w.cfg.ThrottleBackoffMax, n, w.jitter)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
