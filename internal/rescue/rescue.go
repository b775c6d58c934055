// Package rescue finds accepted jobs whose queue message is gone and sends
// them to the workers again, so no accepted job waits forever.
//
// SQS keeps a message until a worker deletes it, and a dead worker's
// message comes back when its visibility timeout ends, so in normal running
// every queued or running job has a message on its way. A message can still
// be lost: the API's process dies after storing a job and before sending
// it (and the client never retries), an operator purges the jobs queue, a
// worker dies on the message's last receive, or a local stand-in drops
// in-flight messages when it restarts. The job then stays queued or running
// for good.
//
// A [Rescuer] run scans the store for active jobs with no sign of life for
// longer than any live message takes to reach a worker (Options.After: the
// queue's visibility timeout and the worker's longest backoff, with
// margin). It leaves alone the stale jobs of a lane whose queue has
// messages waiting (or delayed), since a stale job's message may then
// simply be waiting its turn: a long bulk backlog holds back only the bulk
// lane's rescues, never the interactive lane's. Each
// stale job is requeued (a conditional write, which also restarts its
// clock) and its message sent again; a running job already at its last
// attempt is failed with retries_exhausted instead, as the worker would
// have done on its last receive, so a job that kills its worker is not run
// for ever. Sending a message for a job that still has one is harmless: the
// worker's claim is conditional, and a message whose job ended is dropped.
//
// The stack runs it on a schedule (lambdas/rescuer); the dev runner runs
// it in-process.
package rescue

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// store is what a rescue needs of the job store (internal/dynamo,
// internal/dev/inmem).
type store interface {
	Stale(ctx context.Context, before time.Time) iter.Seq2[jobs.Job, error]
	Requeue(ctx context.Context, owner, id string) (jobs.Job, error)
	Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error
}

// queue is the lanes' queues (internal/sqsqueue.Lanes): Send sends a
// message to its lane's queue.
type queue interface {
	Send(ctx context.Context, m jobs.Message) error
	Depth(ctx context.Context, lane jobs.Lane) (sqsqueue.Depth, error)
}

// Options tune a Rescuer.
type Options struct {
	// After is how long a job may show no sign of life (jobs.Job.StaleSince)
	// before its message counts as lost. It must exceed the jobs queue's
	// visibility timeout and the worker's longest backoff. Required.
	After time.Duration
	// MaxAttempts is the worker's MaxReceiveCount: a running job stale at
	// this attempt or later is failed, not requeued. Required.
	MaxAttempts int
	// Concurrency bounds the jobs rescued at once. Default 8.
	Concurrency int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Rescuer rescues stale jobs. Its Run is safe to call concurrently (two
// runs race only on conditional writes), though one at a time is the plan.
type Rescuer struct {
	store store
	queue queue
	opts  Options
	log   *slog.Logger
}

// New returns a rescuer. A nil logger means slog.Default().
func New(st store, q queue, opts Options, logger *slog.Logger) (*Rescuer, error) {
	if st == nil || q == nil {
		return nil, errors.New("rescue: a store and a queue are required")
	}
	if opts.After <= 0 {
		return nil, errors.New("rescue: After must be positive")
	}
	if opts.MaxAttempts < 1 {
		return nil, errors.New("rescue: MaxAttempts must be at least 1")
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Rescuer{store: st, queue: q, opts: opts, log: logger}, nil
}

// Report is what one run found and did. It is also the rescuer Lambda's
// result, so its field names are stable.
type Report struct {
	// Waiting is the lanes' queues' visible plus delayed messages at the
	// start, all lanes together. When every lane has some, the run did
	// nothing else.
	Waiting int `json:"waiting"`
	// Stale counts the stale jobs found in lanes whose queue had no
	// messages waiting; Deferred those left because theirs had.
	Stale    int `json:"stale"`
	Deferred int `json:"deferred"`
	// Requeued counts stale jobs requeued and sent to the queue again.
	Requeued int `json:"requeued"`
	// Failed counts running jobs failed at their last attempt.
	Failed int `json:"failed"`
	// MovedOn counts stale jobs that changed between the scan and the
	// write (a worker claimed one, its owner cancelled one): left alone.
	MovedOn int `json:"moved_on"`
	// Errors counts jobs that could not be rescued this run; the next run
	// finds them again.
	Errors int `json:"errors"`
}

// Rescued is Requeued plus Failed: the jobs this run moved.
func (r Report) Rescued() int { return r.Requeued + r.Failed }

// Run makes one pass. Its error reports a failed scan or queue check, or
// jobs that could not be rescued (the report counts them); the next run
// finds those again.
func (r *Rescuer) Run(ctx context.Context) (Report, error) {
	var rep Report
	busy := map[jobs.Lane]bool{}
	for _, lane := range jobs.Lanes {
		depth, err := r.queue.Depth(ctx, lane)
		if err != nil {
			return rep, fmt.Errorf("rescue: check the %s lane's queue: %w", lane, err)
		}
		if n := depth.Visible + depth.Delayed; n > 0 {
			busy[lane] = true
			rep.Waiting += n
		}
	}
	if len(busy) == len(jobs.Lanes) {
		r.log.InfoContext(ctx, "rescue run skipped: messages are waiting in every lane's queue, so a stale job's message may be among them",
			"waiting", rep.Waiting)
		return rep, nil
	}

	now := r.opts.Now()
	before := now.Add(-r.opts.After)
	var (
		mu   sync.Mutex
		errs []error
	)
	count := func(field *int, err error) {
		mu.Lock()
		defer mu.Unlock()
		*field++
		if err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	var scanErr error
	for j, err := range r.store.Stale(gctx, before) {
		if err != nil {
			scanErr = err
			break
		}
		if busy[j.Lane.OrDefault()] {
			rep.Deferred++
			continue
		}
		rep.Stale++
		g.Go(func() error {
			switch failed, err := r.rescue(gctx, j, now); {
			case err == nil && failed:
				count(&rep.Failed, nil)
			case err == nil:
				count(&rep.Requeued, nil)
			case errors.Is(err, jobs.ErrConflict), errors.Is(err, jobs.ErrNotFound):
				count(&rep.MovedOn, nil)
			default:
				count(&rep.Errors, err)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through count
	if scanErr != nil {
		errs = append([]error{fmt.Errorf("rescue: %w", scanErr)}, errs...)
	}
	// A run that found nothing says so only at debug level; the stack's
	// JobsRescued alarm counts the "rescued" of the info lines.
	level := slog.LevelInfo
	if rep.Stale == 0 && len(errs) == 0 {
		level = slog.LevelDebug
	}
	r.log.Log(ctx, level, "rescue run finished", "stale", rep.Stale, "rescued", rep.Rescued(),
		"requeued", rep.Requeued, "failed", rep.Failed, "moved_on", rep.MovedOn, "errors", rep.Errors,
		"deferred", rep.Deferred, "after", r.opts.After.String())
	return rep, errors.Join(errs...)
}

// rescue requeues and resends one stale job, or fails it at its last
// attempt (failed true). Requeue comes before the send, as in a
// dead-letter replay: the job looks queued to its owner again, and its new
// updated_at keeps the next runs off it for After even if the send fails
// (a later run then tries again).
func (r *Rescuer) rescue(ctx context.Context, j jobs.Job, now time.Time) (failed bool, err error) {
	log := r.log.With("job_id", j.ID, "user", j.Owner, "status", j.Status, "attempts", j.Attempts)
	idle := now.Sub(j.UpdatedAt)
	if j.Status == jobs.StatusRunning {
		idle = now.Sub(j.LeaseUntil)
	}
	if j.Status == jobs.StatusRunning && j.Attempts >= r.opts.MaxAttempts {
		f := jobs.Failure{
			Code: jobs.FailureRetries,
			Message: fmt.Sprintf("Gave up after %d attempts: the last one stopped without a result "+
				"(its worker ended before finishing) and no attempts are left.", j.Attempts),
		}
		if err := r.store.Fail(ctx, j.Owner, j.ID, j.Attempts, f); err != nil {
			return true, fmt.Errorf("fail job %s at its last attempt: %w", j.ID, err)
		}
		log.WarnContext(ctx, "rescue: failed a job whose last attempt stopped without a result", "idle", idle.Round(time.Second).String())
		return true, nil
	}
	requeued, err := r.store.Requeue(ctx, j.Owner, j.ID)
	if err != nil {
		return false, fmt.Errorf("requeue job %s: %w", j.ID, err)
	}
	if err := r.queue.Send(ctx, requeued.Message()); err != nil {
		return false, fmt.Errorf("send job %s again: %w", j.ID, err)
	}
	log.WarnContext(ctx, "rescue: requeued a job whose queue message was lost", "idle", idle.Round(time.Second).String())
	return false, nil
}
