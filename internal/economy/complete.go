package economy

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Cancelled counts the jobs cancelled inside the run that it settled,
	// with what the run processed for them charged.
	Cancelled                  int
	Skipped, Unknown, NoResult int
	State                      string
	// Manifest is Bedrock's manifest.json.out of the run, when it wrote
	// one: its counts are checked against the results read.
	Manifest *bedrockbatch.Manifest
}

// endConcurrency is how many of a run's jobs the completion ends at once.
const endConcurrency = 16

// startGrace is how long a run may stay starting (its collector is
// claiming its jobs and writing its input) before the completion's check
// starts or abandons it itself: longer than a collection may take (a
// Lambda's 15 minutes). abandonAfter is how long a run whose start Bedrock
// keeps refusing for its quota or an outage is tried before its jobs run
// on the bulk lane instead.
const (
	startGrace   = 20 * time.Minute
	abandonAfter = 2 * time.Hour
)

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
		if errors.Is(err, errUnknownRun) {
			// Listed without a record (an older version listed a run
			// before recording it): nothing to complete, ever.
			l.cfg.Logger.WarnContext(ctx, "an open run has no record; taken off the open runs", "run_id", id)
			err = l.deps.Store.DropOpenRun(ctx, id)
		}
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
	case jobs.RunAbandoned:
		// Its abandonment stopped midway: it goes on.
		rep.Ended = true
		return rep, l.abandon(ctx, run, "its abandonment had not finished")
	case jobs.RunStarting:
		age := l.cfg.Now().Sub(run.CreatedAt)
		if age < startGrace {
			return rep, nil
		}
		// Its collector stopped (or Bedrock refused the start for a
		// while): a run whose input is written is whole, and is started;
		// any other is abandoned, its jobs run on the bulk lane.
		keys, err := l.deps.Files.List(ctx, run.InputKey)
		if err != nil {
			return rep, err
		}
		if !slices.Contains(keys, run.InputKey) {
			rep.Ended = true
			return rep, l.abandon(ctx, run, "its collector stopped before writing its input")
		}
		arn, err := l.deps.Runs.Start(ctx, l.startOf(run))
		switch {
		case retryable(err) && age < abandonAfter:
			return rep, err
		case err != nil:
			rep.Ended = true
			return rep, errors.Join(err, l.abandon(ctx, run, "Bedrock did not start it"))
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
		"succeeded", rep.Succeeded, "failed", rep.Failed, "rerouted", rep.Rerouted, "cancelled", rep.Cancelled, "skipped", rep.Skipped,
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
	e := &ending{l: l, run: run, byID: byID, rep: rep}
	gctx := e.tasks(ctx)
	if err := e.readOutput(ctx, gctx, keys); err != nil {
		return err
	}
	if m := rep.Manifest; m != nil && (m.SuccessRecordCount+m.ErrorRecordCount != e.results || m.TotalRecordCount != run.Records) {
		// Each job is still ended by its own record, or as one without:
		// the mismatch is for an operator to look into.
		l.cfg.Logger.WarnContext(ctx, "an economy run's manifest does not match its output", "run_id", run.ID,
			"manifest_total", m.TotalRecordCount, "manifest_success", m.SuccessRecordCount, "manifest_error", m.ErrorRecordCount,
			"records", run.Records, "results_read", e.results)
	}
	if err := e.g.Wait(); err != nil {
		return err
	}
	// What has no result: the run ended before it ran them, or its
	// output lost them.
	rest, err := l.withoutResult(ctx, run, e.byID, unread(rep.Manifest, e.read))
	if err != nil {
		return err
	}
	gctx = e.tasks(ctx)
	for _, nr := range rest {
		rep.NoResult++
		e.endJob(func(r *CompleteReport) (*jobs.Message, error) { return l.noResult(gctx, run, nr, st, r) })
	}
	if err := e.g.Wait(); err != nil {
		return err
	}
	return l.send(ctx, e.reroute)
}

// ending is the state of ending one run's jobs (Lane.end): the jobs not
// yet matched to a result, the report, the messages to reroute, what the
// results read say, and the tasks that end jobs. Jobs are ended
// concurrently, endConcurrency at once, as results are read: a run of
// 50,000 jobs at a few DynamoDB calls each would not end in one
// invocation one by one. Each task counts in its own report, merged under
// mu.
type ending struct {
	l    *Lane
	run  jobs.Run
	byID map[string]jobs.RunMember
	rep  *CompleteReport
	g    *errgroup.Group

	mu      sync.Mutex
	reroute []jobs.Message

	results int
	read    jobs.Tokens // what the results read say the run processed
}

// tasks starts a new group of tasks on ctx and returns the context the
// tasks run in.
func (e *ending) tasks(ctx context.Context) context.Context {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(endConcurrency)
	e.g = g
	return gctx
}

// endJob runs end as a task of the current group, merging its report and
// the message it reroutes.
func (e *ending) endJob(end func(r *CompleteReport) (*jobs.Message, error)) {
	e.g.Go(func() error {
		var r CompleteReport
		msg, err := end(&r)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.rep.Succeeded += r.Succeeded
		e.rep.Failed += r.Failed
		e.rep.Rerouted += r.Rerouted
		e.rep.Cancelled += r.Cancelled
		e.rep.Skipped += r.Skipped
		if msg != nil {
			e.reroute = append(e.reroute, *msg)
		}
		return err
	})
}

// readOutput reads the run's output files (keys) and its manifest, and
// ends each job whose result it reads, in a task on gctx.
func (e *ending) readOutput(ctx, gctx context.Context, keys []string) error {
	for _, key := range keys {
		if strings.HasSuffix(key, "/manifest.json.out") {
			var err error
			if e.rep.Manifest, err = e.l.readManifest(ctx, key); err != nil {
				return err
			}
			continue
		}
		if !strings.HasSuffix(key, ".jsonl.out") {
			continue
		}
		body, err := e.l.deps.Files.Open(ctx, key)
		if err != nil {
			return err
		}
		err = bedrockbatch.ReadOutput(body, func(res bedrockbatch.Result) error {
			e.results++
			e.read = e.read.Plus(res.Tokens)
			m, ok := e.byID[res.RecordID]
			if !ok {
				// Not one of this run's jobs (or its result came
				// twice): nothing to match it to.
				e.rep.Unknown++
				return nil
			}
			delete(e.byID, res.RecordID)
			e.endJob(func(r *CompleteReport) (*jobs.Message, error) { return e.l.endOne(gctx, e.run, m, res, r) })
			return gctx.Err()
		})
		body.Close()
		if err != nil {
			// A job's error stopped the read: that error says why.
			if werr := e.g.Wait(); werr != nil {
				return werr
			}
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	return nil
}

// unread is what the run's manifest says it processed beyond the results
// read (none without a manifest): tokens billed for records whose output
// line is missing.
func unread(m *bedrockbatch.Manifest, read jobs.Tokens) jobs.Tokens {
	if m == nil {
		return jobs.Tokens{}
	}
	return jobs.Tokens{Input: max(0, m.InputTokenCount-read.Input), Output: max(0, m.OutputTokenCount-read.Output)}
}

// withoutResult is each job of the run left without a result, as it is
// now. Bedrock bills what a run processed whatever became of its jobs: the
// tokens the manifest counts beyond the results read (unbilled) are
// shared among those of them that were cancelled inside the run, since
// their owners chose to leave (a job still running is rerouted or failed,
// not charged for a record the run never answered).
func (l *Lane) withoutResult(ctx context.Context, run jobs.Run, members map[string]jobs.RunMember, unbilled jobs.Tokens) ([]noResult, error) {
	out := make([]noResult, 0, len(members))
	for _, m := range members {
		out = append(out, noResult{member: m})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(endConcurrency)
	for i := range out {
		g.Go(func() error {
			j, err := l.deps.Store.Head(gctx, out[i].member.Owner, out[i].member.JobID)
			switch {
			case errors.Is(err, jobs.ErrNotFound):
				out[i].gone = true
				return nil
			case err != nil:
				return err
			}
			out[i].job = j
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var cancelled []int
	for i, nr := range out {
		if nr.cancelledIn(run) {
			cancelled = append(cancelled, i)
		}
	}
	if unbilled.Total() > 0 && len(cancelled) == 0 {
		l.cfg.Logger.WarnContext(ctx, "an economy run's manifest counts tokens no result or cancelled job accounts for", "run_id", run.ID,
			"input_tokens", unbilled.Input, "output_tokens", unbilled.Output)
	}
	for k, i := range cancelled {
		n := len(cancelled)
		out[i].charge = jobs.Tokens{Input: share(unbilled.Input, n, k), Output: share(unbilled.Output, n, k)}
	}
	return out, nil
}

// share is the kth of n parts of total, the first parts one larger until
// the remainder is spent.
func share(total, n, k int) int {
	part := total / n
	if k < total%n {
		part++
	}
	return part
}

// noResult is a job of an ended run without a result: as read, and what
// it is charged of the tokens the run billed without a result.
type noResult struct {
	member jobs.RunMember
	job    jobs.Job
	gone   bool
	charge jobs.Tokens
}

// cancelledIn reports whether the job was cancelled inside run, at its
// claim for it.
func (nr noResult) cancelledIn(run jobs.Run) bool {
	j := nr.job
	return !nr.gone && j.Status == jobs.StatusCancelled && j.Attempts == nr.member.Attempt &&
		j.Economy != nil && j.Economy.RunID == run.ID
}

// endOne ends job m of run with its record's result. What the record
// processed is charged to the job's owner whatever became of the job
// since its claim for the run (Bedrock bills it all the same): a job
// cancelled inside the run is then settled with it; one that ended
// otherwise, or that a later claim holds, is skipped.
func (l *Lane) endOne(ctx context.Context, run jobs.Run, m jobs.RunMember, res bedrockbatch.Result, rep *CompleteReport) (*jobs.Message, error) {
	// The job's state and budget only: the result is in hand.
	j, err := l.deps.Store.Head(ctx, m.Owner, m.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		rep.Skipped++
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if j.Attempts != m.Attempt {
		rep.Skipped++
		return nil, nil
	}
	if res.Err == nil {
		// Charged once per attempt, however often the run completes.
		if err := l.deps.Store.Charge(ctx, j, res.Tokens); err != nil {
			l.cfg.Logger.ErrorContext(ctx, "could not charge an economy job's tokens to its owner's budget", "job_id", j.ID, "error", err)
		}
	}
	switch {
	case (noResult{member: m, job: j}).cancelledIn(run):
		var t jobs.Tokens
		if res.Err == nil {
			t = res.Tokens
		}
		return nil, l.counted(l.deps.Store.SettleRun(ctx, m.Owner, m.JobID, run.ID, m.Attempt, t), &rep.Cancelled, rep)
	case j.Status != jobs.StatusRunning:
		rep.Skipped++
		return nil, nil
	}
	if res.Err != nil {
		if j.EconomyFallback {
			return l.rerouteOne(ctx, run, m, rep)
		}
		err := l.deps.Store.Fail(ctx, m.Owner, m.JobID, m.Attempt, jobs.Failure{Code: jobs.FailureModel,
			Message: fmt.Sprintf("Bedrock's batch inference could not run this prompt (%s): %s",
				jobs.ScrubProviderMessage(res.Err.Code), jobs.ScrubProviderMessage(res.Err.Message))})
		return nil, l.counted(err, &rep.Failed, rep)
	}
	if jobs.IsRefusal(res.StopReason) {
		// The model declined: the job fails as an on-demand one does, with
		// what the run billed for it charged above.
		err := l.deps.Store.Fail(ctx, m.Owner, m.JobID, m.Attempt, jobs.Failure{Code: jobs.FailureRefused, Message: jobs.Refused("").Message})
		return nil, l.counted(err, &rep.Failed, rep)
	}
	if res.Format != nil {
		if _, err := res.Format.Check(res.Text); err != nil {
			// Checked as the worker checks an on-demand answer, but not
			// tried again: another try would be a run of its own, hours
			// later. Its tokens were charged above.
			err := l.deps.Store.Fail(ctx, m.Owner, m.JobID, m.Attempt, jobs.Failure{Code: jobs.FailureInvalidOutput,
				Message: outputMessage(err) + " (the economy lane does not try again)"})
			return nil, l.counted(err, &rep.Failed, rep)
		}
	}
	err = l.deps.Store.Finish(ctx, m.Owner, m.JobID, m.Attempt, jobs.Progress{GeneratedText: res.Text, Tokens: res.Tokens, StopReason: res.StopReason})
	return nil, l.counted(err, &rep.Succeeded, rep)
}

// noResult ends a job of run, which ended without its record: one
// cancelled inside the run is settled, charged its share of what the run
// billed without results; one still running is rerouted or failed.
func (l *Lane) noResult(ctx context.Context, run jobs.Run, nr noResult, st bedrockbatch.Status, rep *CompleteReport) (*jobs.Message, error) {
	m := nr.member
	switch {
	case nr.gone:
		rep.Skipped++
		return nil, nil
	case nr.cancelledIn(run):
		j := nr.job
		if err := l.deps.Store.Charge(ctx, j, nr.charge); err != nil {
			l.cfg.Logger.ErrorContext(ctx, "could not charge an economy job's tokens to its owner's budget", "job_id", j.ID, "error", err)
		}
		return nil, l.counted(l.deps.Store.SettleRun(ctx, m.Owner, m.JobID, run.ID, m.Attempt, nr.charge), &rep.Cancelled, rep)
	}
	if l.cfg.RerouteOnRunFailure {
		return l.rerouteOne(ctx, run, m, rep)
	}
	msg := fmt.Sprintf("The economy run of this job ended %s before it ran.", st.State)
	if st.Message != "" {
		msg += " Bedrock said: " + jobs.ScrubProviderMessage(st.Message)
	}
	err := l.deps.Store.Fail(ctx, m.Owner, m.JobID, m.Attempt, jobs.Failure{Code: jobs.FailureEconomyRun, Message: msg})
	return nil, l.counted(err, &rep.Failed, rep)
}

func (l *Lane) rerouteOne(ctx context.Context, run jobs.Run, m jobs.RunMember, rep *CompleteReport) (*jobs.Message, error) {
	j, err := l.deps.Store.RerouteFromRun(ctx, m.Owner, m.JobID, run.ID, m.Attempt, jobs.LaneBulk)
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

// outputMessage is what a job's owner is told of an answer Check refused.
func outputMessage(err error) string {
	var bad *jobs.OutputError
	if errors.As(err, &bad) {
		return bad.Message
	}
	return "The job's response_format could not be used."
}
