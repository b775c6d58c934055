package economy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
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
	ClaimForRun(ctx context.Context, owner, id, runID string, lease time.Duration) (jobs.Job, error)
	Reroute(ctx context.Context, owner, id string, attempt int, lane jobs.Lane) (jobs.Job, error)
	PutRun(ctx context.Context, r jobs.Run, members []jobs.RunMember) error
	UpdateRun(ctx context.Context, r jobs.Run) error
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
	Delete(ctx context.Context, receiptHandle string) error
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

// claimConcurrency is how many jobs the collector claims for a run at once.
const claimConcurrency = 16

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
}

// Collect gathers the economy queue's jobs, plans the waiting ones into
// runs and starts them, and sends on demand those that may wait no more.
func (l *Lane) Collect(ctx context.Context) (CollectReport, error) {
	var rep CollectReport
	if err := l.gather(ctx, &rep); err != nil {
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
		errs = append(errs, l.start(ctx, r, &rep))
	}
	return rep, errors.Join(errs...)
}

// gather moves the queue's messages into waiting records.
func (l *Lane) gather(ctx context.Context, rep *CollectReport) error {
	for rep.Gathered+rep.Dropped < l.cfg.MaxGather {
		// A minute covers the batch's handling (a read, a write and a
		// delete each); a receive whose answer was lost hides its
		// messages only that long.
		msgs, err := l.deps.Intake.Receive(ctx, 10, time.Minute)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		var ws []jobs.Waiting
		var done []string
		for _, m := range msgs {
			w, keep, err := l.waitingOf(ctx, m.Body)
			if err != nil {
				// Left in the queue, to come back after its visibility
				// timeout.
				l.cfg.Logger.ErrorContext(ctx, "could not gather an economy job", "error", err)
				continue
			}
			if keep {
				ws = append(ws, w)
				rep.Gathered++
			} else {
				rep.Dropped++
			}
			done = append(done, m.ReceiptHandle)
		}
		if err := l.deps.Store.AddWaiting(ctx, ws); err != nil {
			return err
		}
		for _, h := range done {
			if err := l.deps.Intake.Delete(ctx, h); err != nil {
				// Received again later: adding a waiting job twice
				// changes nothing.
				l.cfg.Logger.WarnContext(ctx, "could not delete a gathered message", "error", err)
			}
		}
	}
	return nil
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
		j, err := l.deps.Store.Reroute(ctx, w.Owner, w.ID, 0, jobs.LaneBulk)
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

// start claims a planned run's jobs, records the run, writes its input and
// creates its model invocation job.
func (l *Lane) start(ctx context.Context, plan bedrockbatch.Run, rep *CollectReport) error {
	run := jobs.Run{ID: jobs.NewID(), Model: plan.Model, State: jobs.RunStarting, CreatedAt: l.cfg.Now().UTC()}
	run.InputKey = l.cfg.Prefix + run.ID + "/input.jsonl"
	run.OutputPrefix = l.cfg.Prefix + run.ID + "/output/"
	// Each job is read (its prompt) and claimed for the run, claimConcurrency
	// at once: a run of 50,000 one by one would outlast the collector's
	// invocation. A job cancelled since it was gathered is left out.
	lines := make([][]byte, len(plan.Jobs))
	claims := make([]jobs.RunMember, len(plan.Jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(claimConcurrency)
	for i, w := range plan.Jobs {
		g.Go(func() error {
			j, err := l.deps.Store.Get(gctx, w.Owner, w.ID)
			if errors.Is(err, jobs.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			claimed, err := l.deps.Store.ClaimForRun(gctx, w.Owner, w.ID, run.ID, l.lease())
			if errors.Is(err, jobs.ErrConflict) || errors.Is(err, jobs.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if lines[i], err = bedrockbatch.NewRecord(j).Line(); err != nil {
				return err
			}
			claims[i] = jobs.RunMember{Owner: w.Owner, JobID: w.ID, Attempt: claimed.Attempts}
			return nil
		})
	}
	err := g.Wait()
	var input bytes.Buffer
	var members []jobs.RunMember
	for i, line := range lines {
		if line != nil {
			input.Write(line)
			members = append(members, claims[i])
		}
	}
	if err != nil {
		// Jobs claimed for a run that will not start would wait for
		// their lease to lapse: they run on demand instead.
		l.cfg.Logger.ErrorContext(ctx, "claiming a run's jobs failed; those claimed go to the bulk lane", "run_id", run.ID,
			"claimed", len(members), "error", err)
		var ws []jobs.Waiting
		for i, line := range lines {
			if line != nil {
				ws = append(ws, plan.Jobs[i])
			}
		}
		return errors.Join(err, l.rerouteMembers(ctx, members, ws, rep))
	}
	run.Records = len(members)
	if run.Records < l.cfg.Limits(plan.Model).MinRecords {
		// Cancellations took the run below Bedrock's minimum: its jobs
		// run on demand instead.
		return l.rerouteMembers(ctx, members, plan.Jobs, rep)
	}
	if err := l.deps.Store.PutRun(ctx, run, members); err != nil {
		return err
	}
	if err := l.deps.Files.Put(ctx, run.InputKey, input.Bytes()); err != nil {
		return err
	}
	arn, err := l.deps.Runs.Start(ctx, bedrockbatch.Start{RunID: run.ID, Model: run.Model, InputURI: l.deps.Files.URI(run.InputKey),
		OutputURI: l.deps.Files.URI(run.OutputPrefix), TimeoutHours: l.cfg.TimeoutHours})
	if err != nil {
		// The run stays starting; the completion's check starts it again
		// with the same token.
		return err
	}
	run.JobARN, run.State = arn, jobs.RunSubmitted
	if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
		return err
	}
	rep.Runs++
	rep.InRuns += run.Records
	l.cfg.Logger.InfoContext(ctx, "economy run started", "run_id", run.ID, "model", run.Model, "records", run.Records, "job_arn", arn)
	return l.deps.Store.RemoveWaiting(ctx, plan.Jobs)
}

// rerouteMembers sends claimed jobs of a run that will not start on
// demand, and clears the run's waiting records.
func (l *Lane) rerouteMembers(ctx context.Context, members []jobs.RunMember, ws []jobs.Waiting, rep *CollectReport) error {
	var msgs []jobs.Message
	for _, m := range members {
		j, err := l.deps.Store.Reroute(ctx, m.Owner, m.JobID, m.Attempt, jobs.LaneBulk)
		if err != nil {
			if errors.Is(err, jobs.ErrConflict) {
				continue
			}
			return err
		}
		msgs = append(msgs, j.Message())
	}
	if err := l.send(ctx, msgs); err != nil {
		return err
	}
	rep.OnDemand += len(msgs)
	return l.deps.Store.RemoveWaiting(ctx, ws)
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
