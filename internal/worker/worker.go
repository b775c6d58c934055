package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
)

// store is what the worker needs from the job store (internal/dynamo,
// internal/dev/inmem). Every write after Claim carries the claim's attempt,
// which the store checks: a worker that lost its claim cannot write.
// Whenever the worker gives a job back to wait, the store records when its
// message comes back (Release's and SentBack's jobs.Wait.After: the job's
// SentAt), so a client's replay meanwhile sends no other message, and why
// (the job's Waiting), so its owner sees what comes next, in that one
// write.
type store interface {
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	Claim(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error)
	SaveProgress(ctx context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error
	Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error
	Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error
	Release(ctx context.Context, owner, id string, attempt int, w jobs.Wait) error
	WatchedUntil(ctx context.Context, owner, id string) (time.Time, error)
	SentBack(ctx context.Context, owner, id string, w jobs.Wait) error
}

// queue is what the worker needs from the lanes' queues
// (internal/sqsqueue.Lanes): the backoff after a failed try is the
// message's visibility timeout on its lane's queue; a job that must wait
// for the model's quota or its owner's fair share goes back as a new
// message, sent after a delay, so waiting never uses up its receives.
type queue interface {
	ChangeVisibility(ctx context.Context, lane jobs.Lane, receiptHandle string, d time.Duration) error
	SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error
}

// queued says how many jobs wait in a lane's queue (received by no worker
// yet, or sent to come back later): internal/sqsqueue.Lanes.Queued.
type queued interface {
	Queued(ctx context.Context, lane jobs.Lane) (int, error)
}

// Worker processes batches of job messages. Create it with [New]; its
// methods are safe for concurrent use.
type Worker struct {
	store    store
	queue    queue
	model    Model
	shares   shares   // nil: no fair shares
	capacity capacity // nil: generations at once not counted
	pacer    pacer    // nil: tokens not paced
	lineup   *lineup
	queued   queued // nil: lane queues' lengths unknown
	meter    meter  // nil: attempts are not charged
	cfg      Config

	mu          sync.Mutex
	queuedCache map[jobs.Lane]queuedCount // laneQueued's
	seatsCache  map[string]seatsRead      // shareCapacity's, by model
	log         *slog.Logger

	// Seams for tests: the clock, the flush ticker, the backoff jitter and
	// waiting for the pace.
	now       func() time.Time
	newTicker func(d time.Duration) (<-chan time.Time, func())
	jitter    func(n int64) int64 // a number in [0, n)
	sleep     func(ctx context.Context, d time.Duration) error
}

// Options are a worker's optional collaborators.
type Options struct {
	// Shares holds each owner to a fair share of their lane
	// (internal/dynamo.Shares), when Config.FairShares is on; nil turns
	// fair shares off too.
	Shares shares
	// Capacity counts the generations running on each model at once,
	// whatever their lane, in Config.Quota.Concurrency seats
	// (internal/dynamo.Capacity): a job takes one before it calls the
	// model, and a bulk job lent one of the interactive lane's gives it
	// back when an interactive job asks. nil: not counted, and the lanes'
	// event source mappings alone bound the generations at once.
	Capacity capacity
	// Pacer keeps model calls under the model's tokens-per-minute quota
	// (internal/dynamo.Pacer); nil when the quota is unknown.
	Pacer pacer
	// Queued tells how many jobs wait in a lane's queue, which bounds how
	// long a job waits for its owner's fair share, or for a seat; nil:
	// unknown. Used with fair shares only.
	Queued queued
	// Meter charges each attempt's tokens to its owner's budget
	// (internal/dynamo.Store); nil: not charged.
	Meter meter
	// Logger, default slog.Default().
	Logger *slog.Logger
}

// New returns a worker. Of cfg it uses the run settings (receive count,
// concurrency, lease, intervals, backoff, lanes), which it validates.
func New(st store, q queue, m Model, cfg Config, opts Options) (*Worker, error) {
	var errs []error
	cfg.validateRun(func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	})
	if st == nil || q == nil || m == nil {
		errs = append(errs, errors.New("worker needs a store, a queue and a model"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	w := &Worker{
		store: st,
		queue: q,
		model: m,
		cfg:   cfg,
		log:   logger,
		now:   time.Now,
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		jitter: rand.Int64N,
		sleep:  sleep,
		lineup: newLineup(),

		queuedCache: map[jobs.Lane]queuedCount{},
		seatsCache:  map[string]seatsRead{},
	}
	// A nil pointer in an interface is not nil: keep the checks honest.
	// Fair shares are switched here, and only here: on with
	// Config.FairShares and a keeper of them, and with them the count of
	// the lanes' queues that bounds a wait for one.
	if cfg.FairShares && opts.Shares != nil && !reflect.ValueOf(opts.Shares).IsNil() {
		w.shares = opts.Shares
		if opts.Queued != nil && !reflect.ValueOf(opts.Queued).IsNil() {
			w.queued = opts.Queued
		}
	}
	if opts.Capacity != nil && !reflect.ValueOf(opts.Capacity).IsNil() {
		w.capacity = opts.Capacity
	}
	if opts.Pacer != nil && !reflect.ValueOf(opts.Pacer).IsNil() {
		w.pacer = opts.Pacer
	}
	if opts.Meter != nil && !reflect.ValueOf(opts.Meter).IsNil() {
		w.meter = opts.Meter
	}
	return w, nil
}

// Handle is the Lambda handler for an SQS batch (the event source mapping
// must have ReportBatchItemFailures on). It processes up to
// Config.Concurrency messages at once and reports in BatchItemFailures only
// the messages SQS should deliver again; it never returns an error, since
// that would make SQS redeliver the messages that succeeded too.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	retry := make([]bool, len(ev.Records))
	var g errgroup.Group
	g.SetLimit(w.cfg.Concurrency)
	for i, m := range ev.Records {
		g.Go(func() error {
			retry[i] = w.handleMessage(ctx, m)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no errors
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, r := range retry {
		if r {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// outcome is what becomes of one message: acknowledged, or delivered again
// after delay.
type outcome struct {
	retry bool
	delay time.Duration
}

var ack = outcome{}

func retryAfter(d time.Duration) outcome { return outcome{retry: true, delay: d} }

// handleMessage processes one message and reports whether SQS should deliver
// it again, having set its visibility timeout to the chosen delay.
func (w *Worker) handleMessage(ctx context.Context, m events.SQSMessage) bool {
	at := w.newAttempt(m)
	o := w.process(ctx, at)
	if !o.retry {
		return false
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.queue.ChangeVisibility(vctx, at.source, m.ReceiptHandle, o.delay); err != nil {
		// The message still comes back, after the queue's own visibility
		// timeout instead of the backoff.
		at.log.WarnContext(ctx, "could not change the message's visibility", "error", err)
	}
	return true
}

// errStopped, errDeadline and errYield are the causes with which the
// model's context is cancelled, so the worker can tell why the model
// stopped.
var (
	errStopped  = errors.New("the job was cancelled or claimed by another worker")
	errDeadline = errors.New("the Lambda deadline is near")
	errYield    = errors.New("the job's lent seat of the model was asked back")
)

// process decides what becomes of one message: a body that is no job
// message goes to the dead-letter queue; a job that must wait goes back
// (admit); one that may run is claimed and run.
func (w *Worker) process(ctx context.Context, at *attempt) (o outcome) {
	defer func() {
		// One message's bug must not take down the batch's other messages.
		if r := recover(); r != nil {
			at.log.ErrorContext(ctx, "panic while processing a message; it will be retried",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			o = retryAfter(w.backoff(at.receive))
		}
	}()
	if at.bodyErr != nil {
		// Such a body can never succeed. Returning it at once sends it to
		// the dead-letter queue after MaxReceiveCount quick receives, where
		// an operator can see it; acknowledging it would drop it unseen.
		at.log.ErrorContext(ctx, "message is not a job message; it will go to the dead-letter queue",
			"error", at.bodyErr, "body_bytes", at.bodyBytes)
		return retryAfter(0)
	}
	if !at.last && w.tooLate(ctx) {
		at.log.WarnContext(ctx, "too close to the Lambda deadline to start; the message will come back")
		return retryAfter(0)
	}
	// Whether the job may start now (its owner's fair share of the lane,
	// the model's pace) is decided before the job is touched: a job that
	// must wait costs a message, not a write to its item.
	adm, o, admitted := w.admit(ctx, at)
	if !admitted {
		return o
	}
	defer adm.close(ctx)
	return w.claim(ctx, at, adm)
}

// claim claims the admitted job and runs it.
func (w *Worker) claim(ctx context.Context, at *attempt, adm *admission) outcome {
	job, err := w.store.Claim(ctx, at.msg.Owner, at.msg.JobID, w.cfg.Lease)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		at.log.ErrorContext(ctx, "the message names no existing job; it will go to the dead-letter queue")
		return retryAfter(0)
	case errors.Is(err, jobs.ErrConflict):
		return w.notClaimed(ctx, at, job)
	case err != nil:
		if at.last {
			at.log.ErrorContext(ctx, "could not claim the job on the last receive; the message goes to the dead-letter queue with the job unchanged", "error", err)
			return retryAfter(0)
		}
		at.log.WarnContext(ctx, "could not claim the job; the message will come back", "error", err)
		return retryAfter(w.backoff(at.receive))
	}
	at.claimed(job)
	at.log.InfoContext(ctx, "job claimed")
	adm.claimed(ctx)
	return w.run(ctx, at, adm)
}

// notClaimed decides what to do with a message whose job could not be
// claimed.
func (w *Worker) notClaimed(ctx context.Context, at *attempt, job jobs.Job) outcome {
	switch {
	case job.Status.Terminal():
		// A duplicate delivery, or a redelivery after the job was cancelled.
		at.log.InfoContext(ctx, "job already ended; nothing to do", "status", job.Status)
		return ack
	case job.Status == jobs.StatusRunning && job.LeaseUntil.After(w.now()):
		// Another worker holds the job, and with it a message of its own:
		// if that worker dies, its message comes back after the queue's
		// visibility timeout and claims the job once the lease has lapsed;
		// if it gives the job back, it sends a new one. This copy (a
		// replay's or a rescue's) is not needed, and keeping it would have
		// it come back every lease until it reached the dead-letter queue.
		at.log.InfoContext(ctx, "job is running in another worker, which holds its own message; dropping this copy",
			"holder_attempt", job.Attempts)
		return ack
	default:
		// Claim lost a race with another claim and release, or the lease
		// lapsed just now; try again.
		at.log.InfoContext(ctx, "job could not be claimed; the message will come back", "status", job.Status)
		return retryAfter(w.backoff(at.receive))
	}
}

// run generates the text of a claimed job and records the result. A job
// with text already written (an earlier call stopped before the end) goes
// on from it (jobs.Job.NextRequest; see answer for what the job shows).
func (w *Worker) run(ctx context.Context, at *attempt, adm *admission) outcome {
	at.started = w.now()
	job := at.job
	c := &call{req: job.NextRequest(), text: newAnswer(job.GeneratedText, job.ContinuesBy()),
		continuations: job.Continuations, stored: job.GeneratedText}
	if job.GeneratedText != "" {
		c.continuations++
		// Sizes only: never the prompt's or the answer's text.
		at.log.InfoContext(ctx, "continuing the job's answer", "continuation", c.continuations, "strategy", c.text.by,
			"text_bytes", len(job.GeneratedText), "output_tokens_so_far", job.Tokens.Output, "max_tokens_left", c.req.MaxTokens)
	}
	if c.req.MaxTokens < 1 {
		// Earlier calls wrote all the output the job allows.
		adm.used(0)
		result := jobs.Progress{GeneratedText: job.GeneratedText, Tokens: job.Tokens,
			StopReason: "max_tokens", Continuations: job.Continuations}
		if o, done := w.checkOutput(ctx, at, result); done {
			return o
		}
		return w.finish(ctx, at, result)
	}
	w.generate(ctx, at, adm, c)
	w.account(ctx, at, adm, c)
	return w.decide(ctx, at, adm, c)
}

// generate makes the model call c asks for, stopped DeadlineMargin before
// the invocation's deadline, while the flusher writes its text, and
// records in c how it ended.
func (w *Worker) generate(ctx context.Context, at *attempt, adm *admission, c *call) {
	genCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	c.stop = stop
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		genCtx, cancel = context.WithDeadlineCause(genCtx, d.Add(-w.cfg.DeadlineMargin), errDeadline)
		defer cancel()
	}
	flushing := make(chan struct{})
	flushed := make(chan struct{})
	c.ended = flushing
	go func() {
		defer close(flushed)
		c.stored = w.flush(ctx, at, adm, c)
	}()
	adm.calling()
	c.result, c.err = func() (jobs.Progress, error) {
		// Stop the flusher even if the model panics, or it would go on
		// extending the lease of a job nobody runs. And no progress write
		// may land after the final one.
		defer func() {
			close(flushing)
			<-flushed
			// The call has ended: its seat frees at once, before the
			// result is written, and goes to whoever asked for it.
			adm.giveSeatBack(ctx)
		}()
		return w.model.Generate(genCtx, c.req, c.text.append)
	}()
	c.cause = context.Cause(genCtx)
}

// account counts what the call used. What the model billed for this
// attempt is charged whatever became of it: a job that succeeds is
// charged with its result, in the write that settles it (finish); any
// other outcome here. Every call's tokens count in the model's pace, a
// call that stopped early too (the model returns what it knows of them
// with its error), and a call that ran to its end in its lane's pace.
func (w *Worker) account(ctx context.Context, at *attempt, adm *admission, c *call) {
	if c.err != nil {
		w.charge(ctx, at, c.result.Tokens)
	}
	if c.err == nil || c.result.Tokens.Total() > 0 {
		adm.used(c.result.Tokens.Total())
	}
	if c.err == nil {
		w.lineup.ran(adm.lane, w.now().Sub(at.started))
	}
}

// decide is what becomes of the job and its message once the call has
// ended: by why it ended (its context's cause) and what the model said.
func (w *Worker) decide(ctx context.Context, at *attempt, adm *admission, c *call) outcome {
	tokens := at.job.Tokens.Plus(c.result.Tokens)
	stopped := jobs.Progress{GeneratedText: c.text.String(), Tokens: tokens, Continuations: c.continuations}
	switch {
	case jobs.KindOf(c.err) == jobs.KindRateLimited && c.cause == nil:
		// The model refused for its quota: the job waits and comes back,
		// and it is not a failed try.
		adm.used(0)
		return w.throttled(ctx, at, c.err)
	case c.err == nil:
		final := c.text.final()
		done := jobs.Progress{GeneratedText: final, Tokens: tokens,
			StopReason: c.result.StopReason, Continuations: c.continuations,
			Saved: commonPrefix(c.stored, final), Appended: strings.HasPrefix(final, c.stored),
			Charge: c.result.Tokens}
		if o, checked := w.checkOutput(ctx, at, done); checked {
			return o
		}
		return w.finish(ctx, at, done)
	case errors.Is(c.cause, errYield):
		// An interactive job found every seat busy and asked for this
		// one, lent to the bulk lane. Every word written so far is kept,
		// and the job goes on later from there (a prefilled turn, or a
		// user turn, as after a deadline), paying no output twice; once
		// displaced, it takes only a seat of its lane's own, and is never
		// displaced again. Yielding uses none of its receives.
		w.keep(ctx, at, stopped, c.wrote())
		return w.continueLater(ctx, at, stopped, at.msg.Displaced+1, c.cause)
	case errors.Is(c.cause, errStopped):
		status := "unknown"
		if j, err := w.store.Get(ctx, at.job.Owner, at.job.ID); err == nil {
			status = string(j.Status)
		}
		at.log.InfoContext(ctx, "model stopped: the job was cancelled or claimed by another worker", "status", status)
		return ack
	case errors.Is(c.cause, errDeadline) || ctx.Err() != nil:
		// The text so far is kept, and the next invocation continues it
		// (a prefilled turn, or a user turn, as the model takes). A call
		// that wrote something goes on in a new message, as a throttled
		// job does, so a long answer never runs out of receives
		// (max_tokens bounds how often). One that wrote nothing uses up a
		// receive, so a job that never gets anywhere still ends.
		saved := w.keep(ctx, at, stopped, c.wrote())
		if saved && c.text.wrote() {
			return w.continueLater(ctx, at, stopped, at.msg.Displaced, c.err)
		}
		return w.retry(ctx, at, "The job did not finish within the worker's time limit.", 0, c.err)
	case !Retryable(c.err):
		w.keep(ctx, at, stopped, c.wrote())
		return w.failed(ctx, at, c.err)
	default:
		// A transient error, perhaps in the middle of the stream: the text
		// so far is kept for the next attempt to continue.
		w.keep(ctx, at, stopped, c.wrote())
		return w.retry(ctx, at, readable(c.err), w.backoff(at.receive), c.err)
	}
}

// failed fails the job the model rejected for good (genErr, not
// Retryable): a refusal or a model error, not retried, and charged what
// the model billed (account).
func (w *Worker) failed(ctx context.Context, at *attempt, genErr error) outcome {
	f := jobs.Failure{Code: jobs.FailureModel, Message: readable(genErr)}
	if errors.Is(genErr, jobs.ErrRefused) {
		f.Code = jobs.FailureRefused
	}
	err := w.store.Fail(ctx, at.job.Owner, at.job.ID, at.job.Attempts, f)
	switch {
	case errors.Is(err, jobs.ErrConflict):
		at.log.InfoContext(ctx, "job was cancelled or taken over before its failure was saved")
		return ack
	case err != nil:
		// The job stays running until its lease lapses; the next
		// delivery claims it and meets the same model error.
		at.log.ErrorContext(ctx, "could not record the job's failure; the message will come back",
			"error", err, "model_error", genErr)
		return retryAfter(w.backoff(at.receive))
	}
	at.log.WarnContext(ctx, "job failed: the model rejected it", "error", genErr)
	return ack
}

// finish records the job's result, and charges the attempt what the
// result says it used (jobs.Progress.Charge) in the same write. A result
// that could not be written charges it apart: the tokens were billed
// whatever became of the job (a cancel, another worker's claim, a store
// that failed), and Charge counts an attempt once.
func (w *Worker) finish(ctx context.Context, at *attempt, result jobs.Progress) outcome {
	if w.meter == nil {
		result.Charge = jobs.Tokens{}
	}
	err := w.store.Finish(ctx, at.job.Owner, at.job.ID, at.job.Attempts, result)
	if err != nil {
		w.charge(ctx, at, result.Charge)
	}
	switch {
	case errors.Is(err, jobs.ErrConflict):
		at.log.InfoContext(ctx, "job was cancelled or taken over before its result was saved; result dropped")
		return ack
	case err != nil:
		return w.retry(ctx, at, "The result could not be saved.", w.backoff(at.receive), err)
	}
	at.log.InfoContext(ctx, "job succeeded", "input_tokens", result.Tokens.Input,
		"output_tokens", result.Tokens.Output, "cache_read_tokens", result.Tokens.CacheRead,
		"cache_write_tokens", result.Tokens.CacheWrite, "continuations", result.Continuations,
		"stop_reason", result.StopReason, "duration_ms", w.now().Sub(at.started).Milliseconds())
	return ack
}

// keep writes the text and tokens of a call that stopped before the end,
// so the next attempt can continue it, and reports whether it could (or
// had nothing new to write: changed false). It runs even when the
// invocation's context has just been cancelled.
func (w *Worker) keep(ctx context.Context, at *attempt, p jobs.Progress, changed bool) bool {
	if !changed {
		return true
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.store.SaveProgress(kctx, at.job.Owner, at.job.ID, at.job.Attempts, p, w.cfg.Lease); err != nil {
		// The last flush's text stays; the next attempt continues that.
		at.log.WarnContext(ctx, "could not save the text of the stopped call", "error", err)
		return false
	}
	return true
}

// continueLater releases a job whose call was stopped before the end (the
// Lambda deadline, after it wrote something; its lent seat asked back),
// and sends its message again, with displaced, to continue in another
// invocation; this message is acknowledged. If the send fails, this
// message comes back instead.
func (w *Worker) continueLater(ctx context.Context, at *attempt, p jobs.Progress, displaced int, cause error) outcome {
	job := at.job
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	wait := putOff{after: sendDelay(0), why: "its answer continues in another invocation", counted: true, released: true,
		reason: jobs.WaitContinuing}
	if err := w.store.Release(rctx, job.Owner, job.ID, job.Attempts, wait.wait()); err != nil {
		at.log.WarnContext(ctx, "stopped before the end; could not release the job (claimable when its lease lapses), the message will come back",
			"cause", cause, "error", err)
		return retryAfter(w.cfg.Lease)
	}
	job.GeneratedText, job.Tokens, job.Continuations = p.GeneratedText, p.Tokens, p.Continuations
	at.log.InfoContext(ctx, "stopped before the end; the answer so far is kept and continues in another invocation",
		"cause", cause, "text_bytes", len(p.GeneratedText), "output_tokens", p.Tokens.Output, "continuations", p.Continuations,
		"displaced", displaced)
	next := job.Message()
	next.Displaced = displaced
	return w.deferJob(ctx, at, next, wait)
}

// retry gives back a job after a transient failure: released, and its
// message delivered again after delay. On the last receive it fails the job
// instead, so the message moving to the dead-letter queue leaves a job that
// says why.
func (w *Worker) retry(ctx context.Context, at *attempt, reason string, delay time.Duration, cause error) outcome {
	job, receive := at.job, at.receive
	if at.last {
		// receive counts the deliveries of this message only; the job's
		// attempts go on across replays, rescues and throttles, which
		// send it a new message. Say both when they differ.
		msg := fmt.Sprintf("Gave up after %d attempts. The last one failed with: %s", receive, reason)
		if job.Attempts != receive {
			msg = fmt.Sprintf("Gave up after %d tries in a row failed (the job has had %d attempts in all, "+
				"counting runs before it was sent to the workers again). The last one failed with: %s", receive, job.Attempts, reason)
		}
		f := jobs.Failure{Code: jobs.FailureRetries, Message: msg}
		if err := w.store.Fail(ctx, job.Owner, job.ID, job.Attempts, f); err != nil {
			at.log.ErrorContext(ctx, "could not fail the job on its last receive", "error", err, "cause", cause)
		} else {
			at.log.ErrorContext(ctx, "job failed: no receives left; the message goes to the dead-letter queue", "cause", cause)
		}
		return retryAfter(0)
	}
	// The release must happen even when the invocation's context has just
	// been cancelled (a shutdown, the deadline margin): otherwise the job
	// stays leased and the next delivery waits for the lease to lapse.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// The job says which try failed, of how many, why, and when the next
	// comes: its owner sees a retry, not a job stuck in the queue.
	wait := jobs.Wait{Reason: jobs.WaitRetry, After: delay, Try: receive, Tries: w.cfg.MaxReceiveCount, Error: reason}
	if err := w.store.Release(rctx, job.Owner, job.ID, job.Attempts, wait); err != nil {
		// Not fatal: the job becomes claimable when its lease lapses.
		at.log.WarnContext(ctx, "transient failure; could not release the job (claimable when its lease lapses), the message will come back",
			"cause", cause, "error", err, "retry_in", delay.String())
		return retryAfter(delay)
	}
	at.log.WarnContext(ctx, "transient failure; job released, the message will come back",
		"cause", cause, "retry_in", delay.String())
	return retryAfter(delay)
}

// flush writes the growing text to the job every FlushInterval while it
// changes, and at least every third of the lease as a heartbeat. A bulk
// job nobody polls is written less often (see watching). A conflict means
// the job was cancelled or taken over: it stops the model. It also renews
// the job's fair-share slot and seat, and on a lent seat reads whether an
// interactive job asked for it: if so it stops the model (errYield). It
// returns the text the store holds, as its last successful write left it.
func (w *Worker) flush(ctx context.Context, at *attempt, adm *admission, c *call) string {
	job := at.job
	tick, stopTick := w.newTicker(w.cfg.FlushInterval)
	defer stopTick()
	// What the store holds: the job's text as claimed, then each write's.
	saved, savedAt := job.GeneratedText, w.now()
	watch := watching{job: job, checkedAt: savedAt, log: at.log}
	for {
		select {
		case <-c.ended:
			return saved
		case <-tick:
		}
		current, now := c.text.String(), w.now()
		adm.renew(ctx, now)
		if adm.askedBack(ctx) {
			c.stop(errYield)
			return saved
		}
		if now.Sub(savedAt) < w.cfg.Lease/3 && (current == saved || watch.holdBack(ctx, w, now, savedAt)) {
			continue
		}
		// Tokens are those of the earlier calls: a call's own are known
		// only when it ends.
		// The next write is due a flush on, or, for a job nobody
		// watches, once its text has waited its longest: a poller asks
		// just after it (jobs.Job.TextDueAt).
		err := w.store.SaveProgress(ctx, job.Owner, job.ID, job.Attempts, jobs.Progress{
			TextDueAt:     now.Add(watch.job.FlushEvery(now, w.cfg.FlushInterval)),
			GeneratedText: current, Tokens: job.Tokens, Continuations: c.continuations,
			Saved: commonPrefix(saved, current), Appended: strings.HasPrefix(current, saved),
		}, w.cfg.Lease)
		switch {
		case errors.Is(err, jobs.ErrConflict):
			c.stop(errStopped)
			return saved
		case err != nil:
			at.log.WarnContext(ctx, "could not save progress; trying again at the next flush", "error", err)
			continue
		}
		saved, savedAt = current, now
	}
}

// watching decides whether a running job's new text may wait: a job
// nobody is polling (jobs.Job.Watched), of any lane, is written at most
// every jobs.UnwatchedFlushInterval, since a script reads a job when it has
// ended. The job's watch mark is read again every watchCheck while text
// waits, so a poll that starts mid-run brings the text within seconds.
type watching struct {
	job       jobs.Job // WatchedUntil as last read
	checkedAt time.Time
	log       *slog.Logger
}

// watchCheck is how often a worker holding back a job's text reads
// whether someone has started to poll it: half a read unit each time.
const watchCheck = 5 * time.Second

// holdBack reports whether new text, unwritten since savedAt, may wait.
func (wt *watching) holdBack(ctx context.Context, w *Worker, now, savedAt time.Time) bool {
	flush := w.cfg.FlushInterval
	if every := wt.job.FlushEvery(now, flush); every <= flush || now.Sub(savedAt) >= every {
		return false
	}
	if now.Sub(wt.checkedAt) < watchCheck {
		return true
	}
	wt.checkedAt = now
	until, err := w.store.WatchedUntil(ctx, wt.job.Owner, wt.job.ID)
	if err != nil {
		wt.log.DebugContext(ctx, "could not read whether the job is watched", "error", err)
		return true
	}
	wt.job.WatchedUntil = until
	return wt.job.FlushEvery(now, flush) > flush
}

// commonPrefix is the length in bytes of a's and b's common prefix.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// tooLate reports whether ctx's deadline leaves no time to run a job.
func (w *Worker) tooLate(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && d.Sub(w.now()) <= w.cfg.DeadlineMargin
}

// backoff is the visibility timeout after a transient failure on the given
// receive: BackoffBase doubled per earlier receive, capped at BackoffMax,
// then drawn from its upper half so failed jobs do not return in step.
func (w *Worker) backoff(receive int) time.Duration {
	return jittered(w.cfg.BackoffBase, w.cfg.BackoffMax, receive, w.jitter)
}

// jittered is base doubled for each of n-1 earlier tries, capped at most,
// then drawn from its upper half.
func jittered(base, most time.Duration, n int, jitter func(int64) int64) time.Duration {
	d := base
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	if half := d / 2; half > 0 {
		d = d - half + time.Duration(jitter(int64(half)+1))
	}
	return d
}

// receiveCount reads ApproximateReceiveCount; a missing or broken one counts
// as a first receive.
func receiveCount(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// decodeMessage parses a queue message body. Unknown fields are allowed, so
// a newer API can add some before every worker knows them.
func decodeMessage(body string) (jobs.Message, error) {
	var m jobs.Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return m, fmt.Errorf("decode message: %w", err)
	}
	switch {
	case !jobs.ValidID(m.JobID):
		return m, errors.New("decode message: job_id is missing or not a job id")
	case strings.TrimSpace(m.Owner) == "" || len(m.Owner) > 128:
		return m, errors.New("decode message: owner is missing or too long")
	}
	return m, nil
}

// answer is a job's text while a call writes it; the flusher reads it from
// another goroutine. A call that continues the text written before
// appends to it the way its model continues (jobs.Join): what it writes
// joins on without the whitespace or the words it repeats, and the text a
// reader sees only grows.
type answer struct {
	before string
	by     catalogue.Continuation

	mu  sync.Mutex
	b   strings.Builder
	out string // String's last result, while b has not grown
	at  int
}

func newAnswer(before string, by catalogue.Continuation) *answer {
	return &answer{before: before, by: by}
}

func (a *answer) append(s string) {
	a.mu.Lock()
	a.b.WriteString(s)
	a.mu.Unlock()
}

// wrote reports whether the call wrote anything.
func (a *answer) wrote() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b.Len() > 0
}

// String is the text to show now.
func (a *answer) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out != "" && a.at == a.b.Len() {
		return a.out
	}
	a.out, a.at = jobs.Join(a.before, a.b.String(), a.by, false), a.b.Len()
	return a.out
}

// final is the text of the finished answer.
func (a *answer) final() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return jobs.Join(a.before, a.b.String(), a.by, true)
}
