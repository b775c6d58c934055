package economy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// store is what the economy lane needs of the job store
// (internal/dynamo).
type store interface {
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	Head(ctx context.Context, owner, id string) (jobs.Job, error)
	AddWaiting(ctx context.Context, ws []jobs.Waiting) error
	Waiting(ctx context.Context) ([]jobs.Waiting, error)
	RemoveWaiting(ctx context.Context, ws []jobs.Waiting) error
	HoldCollector(ctx context.Context, holder string, until time.Time) (bool, error)
	ReleaseCollector(ctx context.Context, holder string) error
	ClaimForRun(ctx context.Context, owner, id, runID string, attempt int, lease time.Duration) error
	RerouteWaiting(ctx context.Context, owner, id string, lane jobs.Lane) (jobs.Job, error)
	RerouteFromRun(ctx context.Context, owner, id, runID string, attempt int, lane jobs.Lane) (jobs.Job, error)
	PutRun(ctx context.Context, r jobs.Run, members []jobs.RunMember) error
	UpdateRun(ctx context.Context, r jobs.Run) error
	DropOpenRun(ctx context.Context, id string) error
	Run(ctx context.Context, id string) (jobs.Run, error)
	RunMembers(ctx context.Context, id string) ([]jobs.RunMember, error)
	OpenRuns(ctx context.Context) ([]string, error)
	Charge(ctx context.Context, j jobs.Job, t jobs.Tokens) error
	SettleRun(ctx context.Context, owner, id, runID string, attempt int, t jobs.Tokens) error
	Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error
	Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error
}

// intake is the economy lane's queue (sqsqueue.Receiver).
type intake interface {
	Receive(ctx context.Context, n int, visibility time.Duration) ([]sqsqueue.Received, error)
	DeleteBatch(ctx context.Context, receiptHandles []string) error
}

// sender sends a rerouted job's message on its new lane (sqsqueue.Lanes).
type sender interface {
	SendBatch(ctx context.Context, ms []jobs.Message) []error
}

// files are the run files in the economy bucket (s3bucket.Bucket).
type files interface {
	Put(ctx context.Context, key string, body []byte) error
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]string, error)
	URI(key string) string
}

// runner is Bedrock's control plane (bedrockbatch.Runs).
type runner interface {
	Start(ctx context.Context, s bedrockbatch.Start) (string, error)
	Status(ctx context.Context, arn string) (bedrockbatch.Status, error)
	Stop(ctx context.Context, arn string) error
}

// Config is the economy lane's settings.
type Config struct {
	// Limits gives a model's per-job limits (its Service Quotas).
	Limits func(model string) bedrockbatch.Limits
	// MaxWait is how long a model's jobs may wait for enough others to
	// fill a run before they run on demand.
	MaxWait time.Duration
	// TimeoutHours is the runs' TimeoutDurationInHours (24 to 168).
	TimeoutHours int
	// OnRunFailure is what becomes of the jobs of a run that failed,
	// expired or was stopped before they had a result: the bulk lane
	// (true) or a failure (false).
	RerouteOnRunFailure bool
	// Prefix is where run files go in the bucket: <Prefix><run id>/.
	Prefix string
	// MaxGather bounds the messages one collection receives.
	MaxGather int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Deps are the economy lane's collaborators.
type Deps struct {
	Store  store
	Intake intake
	Lanes  sender
	Files  files
	Runs   runner
}

// Lane is the economy lane's collector and completion function.
type Lane struct {
	cfg  Config
	deps Deps
}

// New returns the lane.
func New(cfg Config, deps Deps) *Lane {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxGather <= 0 {
		cfg.MaxGather = 50_000
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "runs/"
	}
	return &Lane{cfg: cfg, deps: deps}
}

const (
	// claimConcurrency is how many jobs the collector reads or claims for
	// a run at once.
	claimConcurrency = 16
	// gatherConcurrency is how many receives the collector makes at once:
	// a backlog of tens of thousands of messages gathers in minutes.
	gatherConcurrency = 8
	// gatherShare and startShare are the parts of a collection's time it
	// may spend gathering, and gathering and starting runs: it stops each
	// well before its deadline, so a backlog larger than one collection
	// can take is gathered over several (what is left stays in the queue)
	// and a run is never cut off while it is being recorded.
	gatherShare = 0.5
	startShare  = 0.8
	// defaultCollection is a collection's time when its context has no
	// deadline (the dev runner's).
	defaultCollection = 15 * time.Minute
	// collectorLease is how long the collector's lease lasts unless
	// renewed (every third of it, while a collection runs).
	collectorLease = time.Minute
)

// lease is how long a run's claim of a job lasts: the run's timeout and a
// day, so that a job of a run lost entirely (its records never come back)
// is claimable again, by the rescuer, after that.
func (l *Lane) lease() time.Duration {
	return time.Duration(l.cfg.TimeoutHours)*time.Hour + 24*time.Hour
}

// CollectReport says what a collection did.
type CollectReport struct {
	Gathered, Dropped int
	Runs, InRuns      int
	OnDemand          int
	// Busy: another collection held the lane; this one did nothing.
	Busy bool
	// GatherStopped: gathering stopped at its share of the collection's
	// time with messages perhaps left; Deferred counts planned runs left
	// for the next collection for the same reason.
	GatherStopped bool
	Deferred      int
}

// Collect gathers the economy queue's jobs, plans the waiting ones into
// runs and starts them, and sends on demand those that may wait no more.
// One collection runs at a time (the store's collector lease): a second
// one at once does nothing, since both would plan the same jobs.
func (l *Lane) Collect(ctx context.Context) (CollectReport, error) {
	var rep CollectReport
	now := l.cfg.Now()
	left := defaultCollection
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	holder := jobs.NewID()
	held, err := l.deps.Store.HoldCollector(ctx, holder, now.Add(collectorLease))
	if err != nil {
		return rep, err
	}
	if !held {
		rep.Busy = true
		l.cfg.Logger.InfoContext(ctx, "another collection is running; this one does nothing")
		return rep, nil
	}
	// The lease is short and renewed while the collection runs, so one
	// that dies (a crash, a killed process) holds the lane up a minute at
	// most.
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(collectorLease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				if _, err := l.deps.Store.HoldCollector(renewCtx, holder, l.cfg.Now().Add(collectorLease)); err != nil && renewCtx.Err() == nil {
					l.cfg.Logger.WarnContext(ctx, "could not renew the collector's lease; trying again", "error", err)
				}
			}
		}
	}()
	defer func() {
		stopRenewing()
		<-renewed
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := l.deps.Store.ReleaseCollector(rctx, holder); err != nil {
			l.cfg.Logger.WarnContext(ctx, "could not give back the collector's lease; it lapses within a minute", "error", err)
		}
	}()
	gatherUntil := now.Add(time.Duration(float64(left) * gatherShare))
	startUntil := now.Add(time.Duration(float64(left) * startShare))

	if err := l.gather(ctx, gatherUntil, &rep); err != nil {
		return rep, err
	}
	waiting, err := l.deps.Store.Waiting(ctx)
	if err != nil {
		return rep, err
	}
	plan := bedrockbatch.MakePlan(waiting, l.cfg.Limits, l.cfg.Now(), l.cfg.MaxWait)
	var errs []error
	if len(plan.OnDemand) > 0 {
		errs = append(errs, l.onDemand(ctx, plan.OnDemand, &rep))
	}
	for _, r := range plan.Runs {
		if !l.cfg.Now().Before(startUntil) {
			// Its jobs still wait; the next collection plans them again.
			rep.Deferred++
			continue
		}
		errs = append(errs, l.start(ctx, r, &rep))
	}
	if rep.Deferred > 0 {
		l.cfg.Logger.WarnContext(ctx, "runs left for the next collection: this one is near its deadline", "runs", rep.Deferred)
	}
	return rep, errors.Join(errs...)
}

// gather moves the queue's messages into waiting records, gatherConcurrency
// receives at once, until the queue is empty, MaxGather messages are
// gathered or until passes (rep.GatherStopped).
func (l *Lane) gather(ctx context.Context, until time.Time, rep *CollectReport) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for range gatherConcurrency {
		g.Go(func() error {
			for {
				mu.Lock()
				full := rep.Gathered+rep.Dropped >= l.cfg.MaxGather
				late := !l.cfg.Now().Before(until)
				if late && !full {
					rep.GatherStopped = true
				}
				mu.Unlock()
				if full || late {
					return nil
				}
				gathered, dropped, err := l.gatherOnce(gctx)
				if err != nil {
					return err
				}
				mu.Lock()
				rep.Gathered += gathered
				rep.Dropped += dropped
				mu.Unlock()
				if gathered+dropped == 0 {
					return nil
				}
			}
		})
	}
	err := g.Wait()
	if rep.GatherStopped {
		l.cfg.Logger.InfoContext(ctx, "stopped gathering at its share of the collection's time; the rest waits for the next",
			"gathered", rep.Gathered)
	}
	return err
}

// gatherOnce receives up to 10 messages and records their jobs as waiting.
// It reports how many it gathered and dropped: none when the queue gave
// none.
func (l *Lane) gatherOnce(ctx context.Context) (gathered, dropped int, err error) {
	// A minute covers the batch's handling (reads, a write and a
	// delete); a receive whose answer was lost hides its messages only
	// that long.
	msgs, err := l.deps.Intake.Receive(ctx, 10, time.Minute)
	if err != nil || len(msgs) == 0 {
		return 0, 0, err
	}
	ws := make([]jobs.Waiting, len(msgs))
	keep := make([]bool, len(msgs))
	done := make([]bool, len(msgs))
	var g errgroup.Group
	for i, m := range msgs {
		g.Go(func() error {
			w, k, err := l.waitingOf(ctx, m.Body)
			if err != nil {
				// Left in the queue, to come back after its visibility
				// timeout.
				l.cfg.Logger.ErrorContext(ctx, "could not gather an economy job", "error", err)
				return nil
			}
			ws[i], keep[i], done[i] = w, k, true
			return nil
		})
	}
	_ = g.Wait() // the tasks return no errors
	var add []jobs.Waiting
	var handles []string
	for i, m := range msgs {
		switch {
		case !done[i]:
			continue
		case keep[i]:
			add = append(add, ws[i])
			gathered++
		default:
			dropped++
		}
		handles = append(handles, m.ReceiptHandle)
	}
	if err := l.deps.Store.AddWaiting(ctx, add); err != nil {
		return 0, 0, err
	}
	if err := l.deps.Intake.DeleteBatch(ctx, handles); err != nil {
		// Received again later: adding a waiting job twice changes
		// nothing.
		l.cfg.Logger.WarnContext(ctx, "could not delete gathered messages", "error", err)
	}
	return gathered, dropped, nil
}

// waitingOf is the waiting record of the job a message names, and whether
// it still waits (a job cancelled, or rerouted, since is dropped).
func (l *Lane) waitingOf(ctx context.Context, body string) (jobs.Waiting, bool, error) {
	m, err := sqsqueue.ParseMessage(body)
	if err != nil {
		// Not a job message: nothing can be done with it but drop it.
		l.cfg.Logger.ErrorContext(ctx, "dropped a malformed economy message", "error", err)
		return jobs.Waiting{}, false, nil
	}
	j, err := l.deps.Store.Get(ctx, m.Owner, m.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return jobs.Waiting{}, false, nil
	}
	if err != nil {
		return jobs.Waiting{}, false, err
	}
	if j.Status != jobs.StatusQueued || j.Lane != jobs.LaneEconomy {
		return jobs.Waiting{}, false, nil
	}
	return waitingJob(j)
}

// waitingJob is j's waiting record.
func waitingJob(j jobs.Job) (jobs.Waiting, bool, error) {
	line, err := bedrockbatch.NewRecord(j).Line()
	if err != nil {
		return jobs.Waiting{}, false, err
	}
	return jobs.Waiting{ID: j.ID, Owner: j.Owner, Model: j.Model, CreatedAt: j.CreatedAt, Bytes: int64(len(line))}, true, nil
}

// onDemand moves waiting jobs to the bulk lane and sends their messages.
func (l *Lane) onDemand(ctx context.Context, ws []jobs.Waiting, rep *CollectReport) error {
	var msgs []jobs.Message
	for _, w := range ws {
		j, err := l.deps.Store.RerouteWaiting(ctx, w.Owner, w.ID, jobs.LaneBulk)
		switch {
		case errors.Is(err, jobs.ErrConflict), errors.Is(err, jobs.ErrNotFound):
			// Cancelled, or rerouted already.
		case err != nil:
			return err
		default:
			msgs = append(msgs, j.Message())
		}
	}
	if err := l.send(ctx, msgs); err != nil {
		return err
	}
	rep.OnDemand += len(msgs)
	return l.deps.Store.RemoveWaiting(ctx, ws)
}

// send sends messages of rerouted jobs. One that fails to send is logged:
// the job is queued on its new lane, where the rescuer finds it.
func (l *Lane) send(ctx context.Context, msgs []jobs.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	var errs []error
	for i, err := range l.deps.Lanes.SendBatch(ctx, msgs) {
		if err != nil {
			l.cfg.Logger.ErrorContext(ctx, "could not send a rerouted job's message; the rescuer will", "job_id", msgs[i].JobID, "error", err)
			errs = append(errs, err)
		}
	}
	if len(errs) == len(msgs) {
		return errors.Join(errs...)
	}
	return nil
}

// planned is a waiting job as the collector read it for a run: its run
// record, and its claim for the run (the attempt the claim will make);
// or, with no record, whether its waiting record is spent (the job is no
// queued economy job any more, nor held by a run).
type planned struct {
	waiting jobs.Waiting
	line    []byte
	member  jobs.RunMember
	spent   bool
}

// start records a planned run, claims its jobs, writes its input and
// creates its model invocation job. The run is recorded (starting, among
// the open runs, with each job and the attempt its claim will make)
// before any job is claimed, so whatever stops the collector after a
// claim leaves a run that the completion's check ends (Complete). Any
// error after the run is recorded ends it (abandon): the jobs it claimed
// run on the bulk lane.
func (l *Lane) start(ctx context.Context, plan bedrockbatch.Run, rep *CollectReport) error {
	run := jobs.Run{ID: jobs.NewID(), Model: plan.Model, State: jobs.RunStarting, CreatedAt: l.cfg.Now().UTC()}
	run.InputKey = l.cfg.Prefix + run.ID + "/input.jsonl"
	run.OutputPrefix = l.cfg.Prefix + run.ID + "/output/"
	ps, err := l.readPlanned(ctx, plan.Jobs)
	if err != nil {
		return err
	}
	var members []jobs.RunMember
	var spent []jobs.Waiting
	for _, p := range ps {
		if p.line != nil {
			members = append(members, p.member)
		} else if p.spent {
			spent = append(spent, p.waiting)
		}
	}
	if len(members) < l.cfg.Limits(plan.Model).MinRecords {
		// Cancellations since the plan took the run below Bedrock's
		// minimum: nothing is claimed, and its jobs wait for the next.
		return l.deps.Store.RemoveWaiting(ctx, spent)
	}
	run.Records = len(members)
	if err := l.deps.Store.PutRun(ctx, run, members); err != nil {
		return err
	}
	claimed, err := l.claim(ctx, run, ps)
	var input bytes.Buffer
	for i, p := range ps {
		if claimed[i] {
			input.Write(p.line)
		} else if p.line != nil {
			run.Records--
		}
	}
	switch {
	case err != nil:
		return errors.Join(fmt.Errorf("claim the jobs of run %s: %w", run.ID, err), l.abandon(ctx, run, "claiming its jobs failed"))
	case run.Records < l.cfg.Limits(plan.Model).MinRecords:
		return l.abandon(ctx, run, "cancellations took it below Bedrock's minimum")
	}
	// The run's count, then its input: an input that exists is whole,
	// and the completion's check starts such a run if this collector
	// stops before it does.
	if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
		return errors.Join(err, l.abandon(ctx, run, "recording it failed"))
	}
	if err := l.deps.Files.Put(ctx, run.InputKey, input.Bytes()); err != nil {
		return errors.Join(err, l.abandon(ctx, run, "writing its input failed"))
	}
	arn, err := l.deps.Runs.Start(ctx, l.startOf(run))
	switch {
	case retryable(err):
		// The run stays starting; the completion's check starts it
		// again with the same token.
		return err
	case err != nil:
		return errors.Join(err, l.abandon(ctx, run, "Bedrock refused it"))
	}
	run.JobARN, run.State = arn, jobs.RunSubmitted
	if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
		// The check reads the run's job from Bedrock once it ends.
		return err
	}
	rep.Runs++
	rep.InRuns += run.Records
	l.cfg.Logger.InfoContext(ctx, "economy run started", "run_id", run.ID, "model", run.Model, "records", run.Records, "job_arn", arn)
	for i, p := range ps {
		if claimed[i] {
			spent = append(spent, p.waiting)
		}
	}
	return l.deps.Store.RemoveWaiting(ctx, spent)
}

// readPlanned reads each planned job, claimConcurrency at once: its run
// record and the attempt its claim will make, for a queued economy job.
func (l *Lane) readPlanned(ctx context.Context, ws []jobs.Waiting) ([]planned, error) {
	ps := make([]planned, len(ws))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(claimConcurrency)
	for i, w := range ws {
		ps[i].waiting = w
		g.Go(func() error {
			j, err := l.deps.Store.Get(gctx, w.Owner, w.ID)
			switch {
			case errors.Is(err, jobs.ErrNotFound):
				ps[i].spent = true
				return nil
			case err != nil:
				return err
			case j.Status != jobs.StatusQueued || j.Lane != jobs.LaneEconomy || j.InRun():
				// A job a run holds keeps its waiting record until it
				// ends: if its run is abandoned, the record is how it is
				// gathered again.
				ps[i].spent = !j.InRun()
				return nil
			}
			line, err := bedrockbatch.NewRecord(j).Line()
			if err != nil {
				return err
			}
			ps[i].line = line
			ps[i].member = jobs.RunMember{Owner: j.Owner, JobID: j.ID, Attempt: j.Attempts + 1}
			return nil
		})
	}
	return ps, g.Wait()
}

// claim claims run's jobs as recorded, claimConcurrency at once, and says
// which it claimed; a job cancelled, or claimed otherwise, since it was
// read is left out.
func (l *Lane) claim(ctx context.Context, run jobs.Run, ps []planned) ([]bool, error) {
	claimed := make([]bool, len(ps))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(claimConcurrency)
	for i, p := range ps {
		if p.line == nil {
			continue
		}
		g.Go(func() error {
			err := l.deps.Store.ClaimForRun(gctx, p.member.Owner, p.member.JobID, run.ID, p.member.Attempt, l.lease())
			switch {
			case errors.Is(err, jobs.ErrConflict), errors.Is(err, jobs.ErrNotFound):
				return nil
			case err != nil:
				return err
			}
			claimed[i] = true
			return nil
		})
	}
	return claimed, g.Wait()
}

// startOf is what starts run's model invocation job.
func (l *Lane) startOf(run jobs.Run) bedrockbatch.Start {
	return bedrockbatch.Start{RunID: run.ID, Model: run.Model, InputURI: l.deps.Files.URI(run.InputKey),
		OutputURI: l.deps.Files.URI(run.OutputPrefix), TimeoutHours: l.cfg.TimeoutHours}
}

// retryable reports whether err is one that trying again later may cure
// (Bedrock's throttling and outages, as bedrockbatch classifies them).
func retryable(err error) bool {
	switch jobs.KindOf(err) {
	case jobs.KindRateLimited, jobs.KindUnavailable:
		return true
	}
	return false
}

// abandon ends a run that will not start (why says why, for the log):
// every job it holds runs on the bulk lane instead (whatever the lane's
// setting for failed runs: nothing of it ran, and it is promptq's own
// failure, not the prompt's), a job cancelled inside it is settled with
// nothing charged (nothing was processed), and the run ends. Calling it
// again (the check, after a collector that stopped midway) does the rest.
func (l *Lane) abandon(ctx context.Context, run jobs.Run, why string) error {
	// It must end the run even if the collection's context has just
	// been cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	// First no job can be claimed for it any more (a claim checks that its
	// run is starting): a claim that lands late is refused, not left
	// holding a job no run will end. It stays open until its jobs are out.
	if run.State != jobs.RunAbandoned {
		run.State = jobs.RunAbandoned
		if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
			return fmt.Errorf("abandon run %s: %w", run.ID, err)
		}
	}
	members, err := l.deps.Store.RunMembers(ctx, run.ID)
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		msgs []jobs.Message
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(claimConcurrency)
	for _, m := range members {
		g.Go(func() error {
			j, err := l.deps.Store.Head(gctx, m.Owner, m.JobID)
			switch {
			case errors.Is(err, jobs.ErrNotFound):
				return nil
			case err != nil:
				return err
			case (noResult{member: m, job: j}).cancelledIn(run):
				err := l.deps.Store.SettleRun(gctx, m.Owner, m.JobID, run.ID, m.Attempt, jobs.Tokens{})
				return ignoreConflict(err)
			}
			moved, err := l.deps.Store.RerouteFromRun(gctx, m.Owner, m.JobID, run.ID, m.Attempt, jobs.LaneBulk)
			if err != nil {
				// Not held by the run (never claimed, or ended since).
				return ignoreConflict(err)
			}
			mu.Lock()
			msgs = append(msgs, moved.Message())
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("abandon run %s: %w", run.ID, err)
	}
	if err := l.send(ctx, msgs); err != nil {
		return fmt.Errorf("abandon run %s: %w", run.ID, err)
	}
	run.State = jobs.RunEnded
	if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
		return fmt.Errorf("abandon run %s: %w", run.ID, err)
	}
	l.cfg.Logger.WarnContext(ctx, "economy run abandoned before it started; its jobs run on the bulk lane", "run_id", run.ID,
		"why", why, "rerouted", len(msgs))
	return nil
}

// ignoreConflict is err unless it says the job was not in the state a
// write needed (changed by someone else meanwhile), or is gone.
func ignoreConflict(err error) error {
	if errors.Is(err, jobs.ErrConflict) || errors.Is(err, jobs.ErrNotFound) {
		return nil
	}
	return err
}

// runIDFromEvent is the run id of a "Batch Inference Job State Change"
// event's detail, if the job is one of promptq's.
func runIDFromEvent(detail []byte) (string, bool) {
	var d struct {
		BatchJobName string `json:"batchJobName"`
	}
	if json.Unmarshal(detail, &d) != nil {
		return "", false
	}
	return bedrockbatch.RunID(strings.TrimSpace(d.BatchJobName))
}

var errUnknownRun = errors.New("not a run of this lane")
