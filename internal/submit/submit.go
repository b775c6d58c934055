// Package submit is how jobs are accepted: the rules POST /generate (a
// submission of one) and POST /generate/batch share, over a job store, the
// lanes' queues and the per-user limits, with no HTTP in it. The API's
// handlers decode a request, call [Service.Submit] and encode what it
// returns.
//
// A submission:
//
//  1. counts the call against the submissions a minute, then reserves
//     every entry's worst case (jobs.Request.WorstCaseTokens) and a place
//     under the cap on active jobs, all or nothing, with conditional
//     writes (one refusal refuses all, and nothing is stored or sent);
//  2. stores the entries' jobs, each with its idempotency key and what it
//     reserved (jobs.Budget): an entry whose key was used before gets the
//     original job instead (a replay), and repeated entries of one call
//     are one job, reserved once;
//  3. gives back the reservation of the entries that created nothing, so a
//     replay costs nothing (a job's own reservation is released by the
//     store when the job ends, whatever ends it);
//  4. sends a message for every job it created, on the job's lane;
//  5. sends a replayed job's message again only if the job is still queued
//     and its message has been due for Config.ResendAfter with no worker
//     taking it (jobs.Job.SentAt: when a message was last sent or
//     received, or, sent back to wait, when it comes back; a conditional
//     write on it decides, so of many replays at once one sends, and no
//     more than one a ResendAfter): the first request may have died
//     between storing the job and sending it, but a replay must never be
//     a way to flood the queue, also with a job its lane keeps putting
//     off;
//  6. fails a job it created but could not send (enqueue_failed), freeing
//     its key, so it does not wait for ever and a retry creates it anew.
package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// store is what a submission needs of the job store (internal/dynamo,
// internal/dev/inmem).
type store interface {
	CreateMany(ctx context.Context, items []jobs.NewJob) []jobs.CreateResult
	SwapSentAt(ctx context.Context, owner, id string, old, new time.Time) (jobs.Job, error)
	AbandonEnqueue(ctx context.Context, owner, id string, f jobs.Failure) error
}

// queue sends job messages, each to its lane's queue
// (internal/sqsqueue.Lanes).
type queue interface {
	SendBatch(ctx context.Context, ms []jobs.Message) []error
}

// depth says how many messages wait in a lane's queue, received by no
// worker yet or sent to come back later (internal/sqsqueue.Lanes.Queued).
type depth interface {
	Queued(ctx context.Context, lane jobs.Lane) (int, error)
}

// limiter counts submissions a minute (internal/dynamo.Limiter): Allow
// refuses one with a *jobs.Error of KindRateLimited.
type limiter interface {
	Allow(ctx context.Context, owner string) error
}

// budget holds what submissions reserve of their owner's daily tokens and
// active jobs (internal/dynamo.Store, internal/dev/inmem.Store): Reserve
// refuses, with a *jobs.Error of KindRateLimited naming the limit, a cost
// the limits do not admit; Unreserve gives back what entries that created
// no job reserved; UnreserveUnwritten gives back the reservations of jobs
// whose writes were reported failed, each only if the job does not exist.
type budget interface {
	Reserve(ctx context.Context, owner string, cost jobs.Cost, limits jobs.Budgets) (jobs.Reservation, error)
	Unreserve(ctx context.Context, owner string, r jobs.Reservation) error
	UnreserveUnwritten(ctx context.Context, owner string, js []jobs.Job) error
}

// lanes learns that an owner has work waiting in a lane, so that the
// workers count them in the lane's fair shares before their first job is
// received (internal/dynamo.Shares).
type lanes interface {
	Waiting(ctx context.Context, lane jobs.Lane, owner string, n int) error
}

// Deps are a Service's collaborators. Store and Queue are required.
type Deps struct {
	Store   store
	Queue   queue
	Limiter limiter // nil: no limit on submissions a minute
	Budget  budget  // nil: nothing reserved or counted (no budgets, no usage)
	Lanes   lanes   // nil: nobody is told (fair shares then see an owner when a worker does)
	// Depth tells whether a replayed job's lane has messages waiting, in
	// which case its message is taken to be among them and is not sent
	// again (resendDue); nil: not asked.
	Depth depth
}

// Config is a Service's behaviour. Zero fields take the defaults named on
// each.
type Config struct {
	// JobTTL is how long a job is kept. Default jobs.DefaultJobTTL.
	JobTTL time.Duration
	// ResendAfter is how long a queued job's message must have been due
	// (sent, received, or back from waiting) with no worker taking it
	// before a replay sends one again. Default DefaultResendAfter.
	ResendAfter time.Duration
	// Budgets are the limits reservations must fit (zero: none; the
	// counters still move when Deps.Budget is set).
	Budgets jobs.Budgets
	// Logger, default slog.Default(); Now, default time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultResendAfter is longer than any one submission can take (the API's
// 10-second timeout, a client's retries within a minute), so a replay
// re-sends only a job whose first request really died before its send.
const DefaultResendAfter = 2 * time.Minute

// Service accepts jobs. Create it with [New]; it is safe for concurrent
// use.
type Service struct {
	deps Deps
	cfg  Config
}

// New returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Store == nil || deps.Queue == nil {
		return nil, errors.New("submit: a store and a queue are required")
	}
	if cfg.JobTTL <= 0 {
		cfg.JobTTL = jobs.DefaultJobTTL
	}
	if cfg.ResendAfter <= 0 {
		cfg.ResendAfter = DefaultResendAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{deps: deps, cfg: cfg}, nil
}

// Entry is one job to submit: a validated request (its Lane says which
// lane) and its idempotency key ("" for none).
type Entry struct {
	Request        jobs.Request
	IdempotencyKey string
}

// Result answers one entry: the job (Replayed when the key was used before
// and Job is the original), or Err, a *jobs.Error a client may be shown or
// an internal error.
type Result struct {
	Job      jobs.Job
	Replayed bool
	Err      error
}

// Errors a result can carry when the queue refused a send.
var (
	// ErrNotQueued: the job was created but could not be queued; it is
	// failed (enqueue_failed) and its key is free for a new try.
	ErrNotQueued = &jobs.Error{Kind: jobs.KindUnavailable,
		Message: "The job could not be queued and will not run. Please submit it again."}
	// ErrResendFailed: a replay found its job still waiting for a message,
	// and sending one failed; the same request again tries again.
	ErrResendFailed = &jobs.Error{Kind: jobs.KindUnavailable,
		Message: "The job could not be queued just now. Please send the same request again."}
)

// Submit accepts entries for owner. It returns one result per entry, in
// order, or an error that refuses the whole submission (a per-user limit,
// as a *jobs.Error of KindRateLimited) with nothing stored or sent.
func (s *Service) Submit(ctx context.Context, owner string, entries []Entry) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	now := s.cfg.Now().UTC()
	items, charged, cost := s.newJobs(owner, entries, now)
	if s.deps.Limiter != nil {
		if err := s.deps.Limiter.Allow(ctx, owner); err != nil {
			return nil, err
		}
	}
	var reservation *jobs.Reservation
	if s.deps.Budget != nil {
		r, err := s.deps.Budget.Reserve(ctx, owner, cost, s.cfg.Budgets)
		if err != nil {
			return nil, err
		}
		// The operator's alarm on the stack's daily budget sums this
		// attribute (a log metric filter; docs/configuration.md).
		s.cfg.Logger.InfoContext(ctx, "tokens reserved", "user", owner, "tokens_reserved", r.Tokens, "jobs_reserved", r.Jobs)
		for i := range items {
			if charged[i] {
				items[i].Job.Budget = jobs.Budget{Day: r.Day, Reserved: items[i].Budget, Stack: r.Stack}
			}
		}
		reservation = &r
	}

	created := s.deps.Store.CreateMany(ctx, items)
	results := make([]Result, len(entries))
	var send []jobs.Message
	var sendFor [][]int      // send[k] answers the entries sendFor[k]
	sent := map[string]int{} // job id → its index in send
	if reservation != nil {
		s.unreserve(ctx, owner, *reservation, items, charged, created)
	}
	for i, c := range created {
		if c.Err != nil {
			results[i].Err = c.Err
			continue
		}
		results[i] = Result{Job: c.Job, Replayed: !c.Created}
		if k, ok := sent[c.Job.ID]; ok {
			// A repeated entry of this call: its job's message is on its
			// way already.
			sendFor[k] = append(sendFor[k], i)
			continue
		}
		if !c.Created && !s.resendDue(ctx, c.Job, now) {
			continue
		}
		sent[c.Job.ID] = len(send)
		send = append(send, c.Job.Message())
		sendFor = append(sendFor, []int{i})
	}
	if len(send) > 0 {
		s.signal(ctx, owner, send)
		for k, err := range s.deps.Queue.SendBatch(ctx, send) {
			if err != nil {
				s.notSent(ctx, results, sendFor[k], err, now)
			}
		}
	}
	return results, nil
}

// newJobs are the jobs entries ask for, and what they cost: charged[i]
// says whether entry i counts against the limits. An entry repeating an
// earlier entry's key is that entry's job: it is neither counted against
// the limits nor given back.
func (s *Service) newJobs(owner string, entries []Entry, now time.Time) (items []jobs.NewJob, charged []bool, cost jobs.Cost) {
	items = make([]jobs.NewJob, len(entries))
	charged = make([]bool, len(entries))
	keys := map[string]bool{}
	for i, e := range entries {
		items[i] = jobs.NewJob{Job: s.newJob(owner, e, now), Fingerprint: e.Request.Fingerprint(), Budget: e.Request.WorstCaseTokens()}
		if k := e.IdempotencyKey; k != "" {
			if keys[k] {
				continue
			}
			keys[k] = true
		}
		charged[i] = true
		cost.Jobs++
		cost.Tokens += items[i].Budget
	}
	return items, charged, cost
}

// unreserve gives back what r reserved for the entries that created no
// job: a replay, a repeated key, or a write that failed. A write reported
// failed may have landed all the same (the store applied it and its answer
// was lost): its job then holds its reservation and gives it back when it
// ends, so such an entry's is given back only if its job does not exist
// (Budget.UnreserveUnwritten), never twice. If giving back fails the
// tokens stay held until the day ends and the places until the counter is
// corrected; it is logged at error, and needs two DynamoDB calls of one
// submission to fail.
func (s *Service) unreserve(ctx context.Context, owner string, r jobs.Reservation, items []jobs.NewJob, reserved []bool, created []jobs.CreateResult) {
	ctx = context.WithoutCancel(ctx)
	back := jobs.Reservation{Day: r.Day, Stack: r.Stack}
	var unsure []jobs.Job
	for i, c := range created {
		switch {
		case !reserved[i] || c.Created:
		case c.Err == nil || errors.Is(c.Err, jobs.ErrIdempotencyMismatch):
			// Nothing of this entry's was written: its key's job is
			// another, which holds its own reservation.
			back.Tokens += items[i].Budget
			back.Jobs++
		default:
			unsure = append(unsure, items[i].Job)
		}
	}
	if back.Jobs > 0 {
		if err := s.deps.Budget.Unreserve(ctx, owner, back); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "could not give back the reservation of entries that created no job",
				"tokens", back.Tokens, "jobs", back.Jobs, "error", err)
		}
	}
	if len(unsure) > 0 {
		if err := s.deps.Budget.UnreserveUnwritten(ctx, owner, unsure); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "could not give back the reservation of entries whose writes failed",
				"jobs", len(unsure), "error", err)
		}
	}
}

// newJob is the job an entry asks for, as the store will keep it.
func (s *Service) newJob(owner string, e Entry, now time.Time) jobs.Job {
	r := e.Request
	return jobs.Job{
		ID:          jobs.NewID(),
		Owner:       owner,
		Lane:        r.Lane.OrDefault(),
		Prompt:      r.Prompt,
		System:      r.System,
		Model:       r.Model,
		MaxTokens:   r.MaxTokens,
		Temperature: r.Temperature,
		Effort:      r.Effort,

		ResponseFormat: r.ResponseFormat,
		// A continuation starts with the answer it goes on with
		// (jobs.Job.ContinueRequest): its first call continues it.
		GeneratedText:  r.Continue,
		ContinuesFrom:  r.ContinuesJob,
		IdempotencyKey: e.IdempotencyKey,
		// Only an economy job's request carries it (jobs.DecodeBatch).
		EconomyFallback: r.EconomyFallback,
		CreatedAt:       now,
		ExpiresAt:       now.Add(s.cfg.JobTTL),
	}.AsNew(now, s.cfg.JobTTL)
}

// resendDue reports whether a replayed job's message should be sent again,
// having taken the right to send it: the job is queued, its SentAt is older
// than ResendAfter (a SentAt to come, of a job sent back to wait, never
// is), and this caller moved it to now first.
func (s *Service) resendDue(ctx context.Context, j jobs.Job, now time.Time) bool {
	if j.Status != jobs.StatusQueued || now.Sub(j.SentAt) < s.cfg.ResendAfter {
		return false
	}
	if s.deps.Depth != nil {
		// A lane whose workers are all busy leaves messages waiting,
		// unreceived, for longer than ResendAfter: while any wait, the
		// job's is taken to be among them (the rescuer sends a job whose
		// message is lost once its lane's queue is empty). Unknown: not
		// sending is the safe side, as below.
		n, err := s.deps.Depth.Queued(ctx, j.Lane.OrDefault())
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "could not count a replayed job's lane queue; not sending it again", "job_id", j.ID, "error", err)
			return false
		}
		if n > 0 {
			return false
		}
	}
	_, err := s.deps.Store.SwapSentAt(ctx, j.Owner, j.ID, j.SentAt, now)
	switch {
	case err == nil:
		return true
	case errors.Is(err, jobs.ErrConflict), errors.Is(err, jobs.ErrNotFound):
		// Another replay sent it, or a worker took it, since it was read.
		return false
	default:
		// Without the store's word, not sending is the safe side: the
		// rescuer sends a job whose message is lost.
		s.cfg.Logger.WarnContext(ctx, "could not mark a replayed job's message as sent again; not sending it",
			"job_id", j.ID, "error", err)
		return false
	}
}

// notSent answers the entries whose job's message the queue refused.
func (s *Service) notSent(ctx context.Context, results []Result, idx []int, sendErr error, now time.Time) {
	j := results[idx[0]].Job
	res := ErrResendFailed
	if !results[idx[0]].Replayed {
		s.abandon(ctx, j, sendErr)
		res = ErrNotQueued
	} else if _, err := s.deps.Store.SwapSentAt(context.WithoutCancel(ctx), j.Owner, j.ID, now, j.SentAt); err != nil {
		// Its SentAt stays now: the next replay waits ResendAfter, and the
		// rescuer sends the job if its message really is lost.
		s.cfg.Logger.WarnContext(ctx, "could not undo a replayed job's sent_at after its send failed",
			"job_id", j.ID, "error", err)
	}
	for _, i := range idx {
		results[i] = Result{Err: fmt.Errorf("send job %s: %w", j.ID, &jobs.Error{Kind: res.Kind, Message: res.Message, Err: sendErr})}
	}
}

// abandon fails a stored job that never reached the queue, so it does not
// sit queued for ever, and frees its idempotency key for a retry.
func (s *Service) abandon(ctx context.Context, j jobs.Job, sendErr error) {
	s.cfg.Logger.ErrorContext(ctx, "queue send failed; abandoning job",
		slog.String("job_id", j.ID), slog.String("error", sendErr.Error()))
	f := jobs.Failure{Code: jobs.FailureEnqueue, Message: "The job could not be queued, so it never ran. Please submit it again."}
	if err := s.deps.Store.AbandonEnqueue(context.WithoutCancel(ctx), j.Owner, j.ID, f); err != nil {
		// Both AWS calls failed: the job stays queued with no message
		// until the rescuer sends it. Logged at error so the alarm on API
		// errors surfaces it.
		s.cfg.Logger.ErrorContext(ctx, "abandon job failed; job left queued without a message",
			slog.String("job_id", j.ID), slog.String("error", err.Error()))
	}
}

// signal tells the lanes how many of owner's messages are on their way to
// each, before they are sent: a worker may receive one at once.
func (s *Service) signal(ctx context.Context, owner string, ms []jobs.Message) {
	if s.deps.Lanes == nil {
		return
	}
	n := map[jobs.Lane]int{}
	var order []jobs.Lane
	for _, m := range ms {
		if n[m.Lane] == 0 {
			order = append(order, m.Lane)
		}
		n[m.Lane]++
	}
	for _, lane := range order {
		if err := s.deps.Lanes.Waiting(ctx, lane, owner, n[lane]); err != nil {
			// The fair shares learn of the owner when a worker receives
			// one of its messages instead.
			s.cfg.Logger.WarnContext(ctx, "could not record that the owner has work waiting in a lane", "lane", lane, "error", err)
		}
	}
}
