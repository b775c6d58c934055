package economy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/jobs"
)

// CompleteReport says what completing a run did.
type CompleteReport struct {
	RunID string
	// Ended is whether the run ended with this call.
	Ended                       bool
	Succeeded, Failed, Rerouted int
	Skipped, Unknown, NoResult  int
	State                       string
	// Manifest is Bedrock's manifest.json.out of the run, when it wrote
	// one: its counts are checked against the results read.
	Manifest *bedrockbatch.Manifest
}

// endConcurrency is how many of a run's jobs the completion ends at once.
const endConcurrency = 16

// startGrace is how long a run may stay starting (its collector is
// claiming its jobs and writing its input) before the completion's check
// starts it itself.
const startGrace = 10 * time.Minute

// HandleEvent is the completion function's handler of Bedrock's "Batch
// Inference Job State Change" events: a run's job that changed completes
// the run (an event is a hint; the job's state is read from Bedrock).
// Events of jobs promptq did not start are ignored.
func (l *Lane) HandleEvent(ctx context.Context, ev events.CloudWatchEvent) error {
	if ev.Source != "aws.bedrock" || ev.DetailType != "Batch Inference Job State Change" {
		return nil
	}
	id, ok := runIDFromEvent(ev.Detail)
	if !ok {
		return nil
	}
	_, err := l.Complete(ctx, id)
	if errors.Is(err, errUnknownRun) {
		return nil
	}
	return err
}

// Check completes every open run: the safety net for events Bedrock did
// not deliver, and what starts a run whose collector died.
func (l *Lane) Check(ctx context.Context) ([]CompleteReport, error) {
	ids, err := l.deps.Store.OpenRuns(ctx)
	if err != nil {
		return nil, err
	}
	var reps []CompleteReport
	var errs []error
	for _, id := range ids {
		rep, err := l.Complete(ctx, id)
		reps = append(reps, rep)
		errs = append(errs, err)
	}
	return reps, errors.Join(errs...)
}

// Complete brings run id up to date: its progress, and once Bedrock says
// its job ended, each of its jobs' result. Calling it again, or for an
// ended run, changes nothing more.
func (l *Lane) Complete(ctx context.Context, id string) (CompleteReport, error) {
	rep := CompleteReport{RunID: id}
	run, err := l.deps.Store.Run(ctx, id)
	if err != nil {
		if errors.Is(err, jobs.ErrNotFound) {
			return rep, errUnknownRun
		}
		return rep, err
	}
	rep.State = string(run.State)
	switch run.State {
	case jobs.RunEnded:
		return rep, nil
	case jobs.RunStarting:
		if l.cfg.Now().Sub(run.CreatedAt) < startGrace {
			return rep, nil
		}
		arn, err := l.deps.Runs.Start(ctx, bedrockbatch.Start{RunID: run.ID, Model: run.Model, InputURI: l.deps.Files.URI(run.InputKey),
			OutputURI: l.deps.Files.URI(run.OutputPrefix), TimeoutHours: l.cfg.TimeoutHours})
		if err != nil {
			return rep, err
		}
		run.JobARN, run.State = arn, jobs.RunSubmitted
		if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
			return rep, err
		}
	}
	st, err := l.deps.Runs.Status(ctx, run.JobARN)
	if err != nil {
		return rep, err
	}
	rep.State = string(st.State)
	if !st.Ended() {
		if run.Records > 0 && run.Cancelled >= run.Records {
			// Every job of it was cancelled: nothing is worth paying
			// for. The stopped run's event ends it.
			l.cfg.Logger.InfoContext(ctx, "stopping an economy run whose jobs were all cancelled", "run_id", run.ID)
			return rep, l.deps.Runs.Stop(ctx, run.JobARN)
		}
		if st.Processed != run.Done {
			run.Done = st.Processed
			return rep, l.deps.Store.UpdateRun(ctx, run)
		}
		return rep, nil
	}
	if err := l.end(ctx, run, st, &rep); err != nil {
		return rep, err
	}
	run.State, run.Done = jobs.RunEnded, st.Processed
	if err := l.deps.Store.UpdateRun(ctx, run); err != nil {
		return rep, err
	}
	rep.Ended = true
	l.cfg.Logger.InfoContext(ctx, "economy run ended", "run_id", run.ID, "state", st.State,
		"succeeded", rep.Succeeded, "failed", rep.Failed, "rerouted", rep.Rerouted, "skipped", rep.Skipped,
		"unknown_records", rep.Unknown, "without_result", rep.NoResult)
	return rep, nil
}

// end gives each job of the ended run its result: its record's, or for a
// job without one, the run's failure.
func (l *Lane) end(ctx context.Context, run jobs.Run, st bedrockbatch.Status, rep *CompleteReport) error {
	members, err := l.deps.Store.RunMembers(ctx, run.ID)
	if err != nil {
		return err
	}
	byID := make(map[string]jobs.RunMember, len(members))
	for _, m := range members {
		byID[m.JobID] = m
	}
	keys, err := l.deps.Files.List(ctx, run.OutputPrefix)
	if err != nil {
		return err
	}
	// Jobs are ended concurrently, endConcurrency at once, as results
	// are read: a run of 50,000 jobs at a few DynamoDB calls each would
	// not end in one invocation one by one. Each task counts in its own
	// report, merged under mu.
	var (
		mu      sync.Mutex
		reroute []jobs.Message
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(endConcurrency)
	endJob := func(end func(r *CompleteReport) (*jobs.Message, error)) {
		g.Go(func() error {
			var r CompleteReport
			msg, err := end(&r)
			mu.Lock()
			defer mu.Unlock()
			rep.Succeeded += r.Succeeded
			rep.Failed += r.Failed
			rep.Rerouted += r.Rerouted
			rep.Skipped += r.Skipped
			if msg != nil {
				reroute = append(reroute, *msg)
			}
			return err
		})
	}
	results := 0
	for _, key := range keys {
		if strings.HasSuffix(key, "/manifest.json.out") {
			if rep.Manifest, err = l.readManifest(ctx, key); err != nil {
				return err
			}
			continue
		}
		if !strings.HasSuffix(key, ".jsonl.out") {
			continue
		}
		body, err := l.deps.Files.Open(ctx, key)
		if err != nil {
			return err
		}
		err = bedrockbatch.ReadOutput(body, func(res bedrockbatch.Result) error {
			results++
			m, ok := byID[res.RecordID]
			if !ok {
				// Not one of this run's jobs (or its result came
				// twice): nothing to match it to.
				rep.Unknown++
				return nil
			}
			delete(byID, res.RecordID)
			endJob(func(r *CompleteReport) (*jobs.Message, error) { return l.endOne(gctx, m, res, r) })
			return gctx.Err()
		})
		body.Close()
		if err != nil {
			// A job's error stopped the read: that error says why.
			if werr := g.Wait(); werr != nil {
				return werr
			}
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	if m := rep.Manifest; m != nil && (m.SuccessRecordCount+m.ErrorRecordCount != results || m.TotalRecordCount != run.Records) {
		// Each job is still ended by its own record, or as one without:
		// the mismatch is for an operator to look into.
		l.cfg.Logger.WarnContext(ctx, "an economy run's manifest does not match its output", "run_id", run.ID,
			"manifest_total", m.TotalRecordCount, "manifest_success", m.SuccessRecordCount, "manifest_error", m.ErrorRecordCount,
			"records", run.Records, "results_read", results)
	}
	// What has no result: the run ended before it ran them.
	for _, m := range byID {
		rep.NoResult++
		endJob(func(r *CompleteReport) (*jobs.Message, error) { return l.noResult(gctx, m, st, r) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return l.send(ctx, reroute)
}

// endOne ends job m with its record's result. A job cancelled meanwhile
// (or ended otherwise) is skipped: its write's condition fails.
func (l *Lane) endOne(ctx context.Context, m jobs.RunMember, res bedrockbatch.Result, rep *CompleteReport) (*jobs.Message, error) {
	// The job's state and budget only: the result is in hand.
	j, err := l.deps.Store.Head(ctx, m.Owner, m.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		rep.Skipped++
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if j.Status != jobs.StatusRunning || j.Attempts != m.Attempt {
		rep.Skipped++
		return nil, nil
	}
	if res.Err != nil {
		if j.EconomyFallback {
			return l.rerouteOne(ctx, m, rep)
		}
		err := l.deps.Store.Fail(ctx, m.Owner, m.JobID, m.Attempt, jobs.Failure{Code: jobs.FailureModel,
			Message: fmt.Sprintf("Bedrock's batch inference could not run this prompt (%s): %s", res.Err.Code, res.Err.Message)})
		return nil, l.counted(err, &rep.Failed, rep)
	}
	if err := l.deps.Store.Charge(ctx, j, res.Tokens); err != nil {
		l.cfg.Logger.ErrorContext(ctx, "could not charge an economy job's tokens to its owner's budget", "job_id", j.ID, "error", err)
	}
	err = l.deps.Store.Finish(ctx, m.Owner, m.JobID, m.Attempt, jobs.Progress{GeneratedText: res.Text, Tokens: res.Tokens, StopReason: res.StopReason})
	return nil, l.counted(err, &rep.Succeeded, rep)
}

// noResult ends job m of a run that ended without its record.
func (l *Lane) noResult(ctx context.Context, m jobs.RunMember, st bedrockbatch.Status, rep *CompleteReport) (*jobs.Message, error) {
	if l.cfg.RerouteOnRunFailure {
		return l.rerouteOne(ctx, m, rep)
	}
	msg := fmt.Sprintf("The economy run of this job ended %s before it ran.", st.State)
	if st.Message != "" {
		msg += " Bedrock said: " + st.Message
	}
	err := l.deps.Store.Fail(ctx, m.Owner, m.JobID, m.Attempt, jobs.Failure{Code: jobs.FailureEconomyRun, Message: msg})
	return nil, l.counted(err, &rep.Failed, rep)
}

func (l *Lane) rerouteOne(ctx context.Context, m jobs.RunMember, rep *CompleteReport) (*jobs.Message, error) {
	j, err := l.deps.Store.Reroute(ctx, m.Owner, m.JobID, m.Attempt, jobs.LaneBulk)
	if err != nil {
		return nil, l.counted(err, &rep.Rerouted, rep)
	}
	rep.Rerouted++
	msg := j.Message()
	return &msg, nil
}

// counted counts a write that was made in n, and one whose condition
// failed (the job was cancelled or ended otherwise) as skipped.
func (l *Lane) counted(err error, n *int, rep *CompleteReport) error {
	switch {
	case err == nil:
		*n++
	case errors.Is(err, jobs.ErrConflict), errors.Is(err, jobs.ErrNotFound):
		rep.Skipped++
	default:
		return err
	}
	return nil
}

// readManifest reads a run's manifest.json.out.
func (l *Lane) readManifest(ctx context.Context, key string) (*bedrockbatch.Manifest, error) {
	body, err := l.deps.Files.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	m, err := bedrockbatch.ReadManifest(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return &m, nil
}
