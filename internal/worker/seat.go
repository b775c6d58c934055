package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// heldSeat is the model's seat a job holds.
type heldSeat struct {
	index int
	// mine: taken for this message, which renews it and gives it back.
	// Otherwise the job held it already, for another of its messages: the
	// seat becomes this one's if it claims the job (claimed).
	mine bool
	// lent: a bulk job on the interactive lane's reserve, or past its
	// owner's fair share. Its flusher reads, every flush, whether a job
	// asked for it.
	lent    bool
	until   time.Time // when the seat lapses unless renewed
	renewAt time.Time // no renewal before then (after a failed one)
}

const (
	// seatWaitMax is the longest a job waits in place for a seat of the
	// model; a longer wait sends its message back instead, which frees
	// the worker. An interactive job that asked a lent seat back waits
	// for its holder's next flush (a second) and the holder's write of
	// its text; a bulk job waits for any seat to free.
	seatWaitMax = 4 * time.Second
	// seatPollInteractive and seatPollBulk are how often a job waiting in
	// place reads the model's seats again (a strongly consistent Query,
	// about a read unit): an interactive job often, so it starts as soon
	// as the seat it asked for is given back.
	seatPollInteractive = 250 * time.Millisecond
	seatPollBulk        = 500 * time.Millisecond
	// seatConflictsMax bounds how many times in a row a job reads the
	// seats again at once after another job took the seat it chose.
	seatConflictsMax = 8
)

// shareCapacity is the concurrency of lane that each of its users has a
// fair share of (quota.Quota.ShareCapacity): for the bulk lane, every seat
// of model the interactive lane is not using, from a read of the seats at
// most seatsCacheFor old. A job that must wait for its owner's share (a
// backlog's, received again and again on a queue without fair ordering)
// then costs no read of the seats; a job admitted reads them afresh to
// take one. Without seats, or a read of them, it is the lane's share.
func (w *Worker) shareCapacity(ctx context.Context, log *slog.Logger, lane jobs.Lane, model string) int {
	q, now := w.cfg.Quota, w.now()
	if w.capacity == nil || lane.OrDefault() != jobs.LaneBulk {
		return q.Split().Of(lane)
	}
	w.mu.Lock()
	c, ok := w.seatsCache[model]
	w.mu.Unlock()
	if !ok || now.Sub(c.at) >= seatsCacheFor || now.Before(c.at) {
		seats, err := w.capacity.Seats(ctx, model, q.Concurrency)
		if err != nil {
			log.WarnContext(ctx, "could not read the model's seats; the bulk lane's fair shares are of its own share", "error", err)
			return q.Split().Bulk
		}
		c = w.cacheSeats(model, seats, now)
	}
	return q.ShareCapacity(lane, c.seats, now)
}

// seatsCacheFor is how long a worker reuses a read of a model's seats for
// the bulk lane's fair shares: the interactive lane's use of them changes
// at the pace its jobs start and end.
const seatsCacheFor = time.Second

type seatsRead struct {
	seats []quota.Seat
	at    time.Time
}

// cacheSeats keeps seats, read at now, as model's latest read.
func (w *Worker) cacheSeats(model string, seats []quota.Seat, now time.Time) seatsRead {
	c := seatsRead{seats: seats, at: now}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seatsCache[model] = c
	return c
}

// takeSeat has the job take a seat of the model (quota.Quota.Choose): a
// free one at once; or, for an interactive job when every seat is busy,
// the lent seat it asks back, whose holder stops at its next flush; or
// any that frees within seatWaitMax, waiting in place. If none does, the
// job's message goes back to come back later (soon, for a job that asked
// a seat back: the seat stays its own a few seconds after it is given
// back), and ok is false with what to do with this message. Reading or
// writing the seats failing lets the job run without one.
func (a *admission) takeSeat(ctx context.Context) (o outcome, ok bool) {
	w, q, log := a.w, a.w.cfg.Quota, a.at.log
	seats, err := w.capacity.Seats(ctx, a.model, q.Concurrency)
	if err != nil {
		log.WarnContext(ctx, "could not read the model's seats; running the job without one", "error", err)
		return ack, true
	}
	w.cacheSeats(a.model, seats, w.now())
	asker := a.asker()
	poll := seatPollBulk
	if a.lane == jobs.LaneInteractive {
		poll = seatPollInteractive
	}
	start, asked, conflicts := w.now(), false, 0
	for {
		now := w.now()
		c := q.Choose(seats, asker, now)
		var err error
		switch c.Action {
		case quota.Hold:
			a.seat = &heldSeat{index: c.Seat.Index, lent: c.Seat.Lent}
			return ack, true
		case quota.Take:
			h := q.HolderFor(asker, c.Seat.Index, now, w.slotUntil(ctx))
			if err = w.capacity.Take(ctx, a.model, c.Seat, h); err == nil {
				a.seat = &heldSeat{index: c.Seat.Index, mine: true, lent: h.Lent, until: h.Until}
				if a.pastShare {
					a.borrowed(ctx)
				}
				if asked {
					log.InfoContext(ctx, "took the seat of the model given back for the job", "seat", c.Seat.Index,
						"waited_ms", now.Sub(start).Milliseconds())
				}
				return ack, true
			}
		case quota.AskBack:
			if err = w.capacity.AskBack(ctx, a.model, c.Seat, a.jobID); err == nil {
				asked = true
				log.InfoContext(ctx, "every seat of the model is busy; asked a lent one back", "seat", c.Seat.Index, "from_job", c.Seat.Job,
					"past_share", c.Seat.PastShare)
			}
		case quota.AwaitGiveBack:
			asked = true
		}
		switch {
		case errors.Is(err, jobs.ErrConflict) && conflicts < seatConflictsMax:
			conflicts++ // another job changed the seat since the read: read again now
		case err != nil && !errors.Is(err, jobs.ErrConflict):
			log.WarnContext(ctx, "could not take a seat of the model; running the job without one", "error", err)
			return ack, true
		case a.pastShare && c.Action == quota.Wait:
			// A job past its owner's share waits for nothing in place:
			// the seats belong to jobs within their shares first.
			a.close(ctx)
			return a.overShare(ctx, a.capacity), false
		default:
			conflicts = 0
			next := w.now().Add(poll)
			if d, ok := ctx.Deadline(); next.Sub(start) > seatWaitMax || ok && next.After(d.Add(-w.cfg.DeadlineMargin)) {
				return a.noSeat(ctx, asked), false
			}
			if err := w.sleep(ctx, poll); err != nil {
				a.close(ctx)
				return retryAfter(0), false
			}
		}
		if seats, err = w.capacity.Seats(ctx, a.model, q.Concurrency); err != nil {
			log.WarnContext(ctx, "could not read the model's seats; running the job without one", "error", err)
			return ack, true
		}
		w.cacheSeats(a.model, seats, w.now())
	}
}

// noSeat sends the job's message back when no seat freed for it in time:
// after about as long as its lane would take to get to it (lineup), or,
// for a job that asked a seat back, at once, to find the seat reserved for
// it.
func (a *admission) noSeat(ctx context.Context, asked bool) outcome {
	w := a.w
	wait := sendDelay(0)
	if !asked {
		wait = w.lineup.sentBack(a.lane, a.owner, a.jobID, w.cfg.Quota.Concurrency, w.laneQueued(ctx, a.at.log, a.lane), w.now())
		wait = jittered(wait, wait, 1, w.jitter) // its upper half
	}
	a.close(ctx) // the fair-share slot and the tokens, if any
	return w.deferJob(ctx, a.at, a.at.msg, putOff{after: wait, why: "every seat of the model is busy", counted: a.counted, reason: jobs.WaitBusy})
}

// borrowed records that a job past its owner's share took a seat: its
// message comes off the owner's count of messages waiting, as a job the
// fair shares admit does (a message counted while it runs would keep its
// owner in the shares after their backlog has gone).
func (a *admission) borrowed(ctx context.Context) {
	a.at.log.DebugContext(ctx, "borrowed a free seat of the model past the owner's fair share; it is given back when asked", "seat", a.seat.index)
	if err := a.w.shares.Received(ctx, a.lane, a.owner); err != nil {
		a.at.log.WarnContext(ctx, "could not count the job's message received in its lane", "error", err)
		return
	}
	a.counted = true
}

// renewSeat extends the job's seat, a lease, once half of it is left, to
// another lease. A renewal that fails is tried again renewRetry later; a
// seat that lapsed and was taken by another job meanwhile is lost (the
// job runs on without one).
func (a *admission) renewSeat(ctx context.Context, now time.Time) {
	s := a.seat
	if s == nil || !s.mine || s.until.Sub(now) > a.w.cfg.Lease/2 || now.Before(s.renewAt) {
		return
	}
	until := a.w.slotUntil(ctx)
	if !until.After(s.until) {
		return // the invocation's deadline: the seat ends with it
	}
	err := a.w.capacity.Renew(ctx, a.model, s.index, a.jobID, until)
	switch {
	case errors.Is(err, jobs.ErrConflict):
		a.at.log.WarnContext(ctx, "the job's seat of the model lapsed and another job took it; the job runs on without one", "seat", s.index)
		a.seat = nil
	case err != nil:
		a.at.log.WarnContext(ctx, "could not renew the job's seat of the model; trying again shortly", "error", err)
		s.renewAt = now.Add(renewRetry)
	default:
		s.until = until
	}
}

// askedBack reports whether the lent seat the job holds was asked back (by
// an interactive job, or, for a seat borrowed past its owner's share, by a
// bulk job within its own). Called by the job's flusher alone, every flush.
func (a *admission) askedBack(ctx context.Context) bool {
	s := a.seat
	if s == nil || !s.mine || !s.lent {
		return false
	}
	asked, err := a.w.capacity.AskedBack(ctx, a.model, s.index, a.jobID)
	if err != nil {
		a.at.log.DebugContext(ctx, "could not read whether the job's lent seat was asked back", "error", err)
		return false
	}
	return asked
}

// giveSeatBack gives back the job's seat of the model: as soon as its
// model call ends, before the job's result is written, since the seat
// counts generations at once; and in close, if the model was never
// called. A seat held for another message of the job is that message's to
// give back. It runs even when the invocation's context has just been
// cancelled.
func (a *admission) giveSeatBack(ctx context.Context) {
	s := a.seat
	a.seat = nil
	if s == nil || !s.mine {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.w.capacity.Release(cctx, a.model, s.index, a.jobID); err != nil && !errors.Is(err, jobs.ErrConflict) {
		// The seat lapses with its lease.
		a.w.log.WarnContext(ctx, "could not give back the job's seat of the model; it lapses with its lease", "job_id", a.jobID, "error", err)
	}
}
