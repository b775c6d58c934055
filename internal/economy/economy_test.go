package economy_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/dev/localbatch"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/economy"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/s3bucket"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// clock is the lane's clock, which tests move past MaxWait.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is the economy lane over the wire: the jobs table, the lanes'
// queues and the economy queue, and the bucket on kumo; Bedrock's batch
// control plane from localbatch, whose events go to the lane's handler.
type env struct {
	store   *dynamo.Store
	lanes   *sqsqueue.Lanes
	backend standin.Backend
	lane    *economy.Lane
	batch   *localbatch.Server
	clock   *clock
	events  chan events.CloudWatchEvent
	// runs talks to the batch stand-in directly, as an operator would.
	runs *bedrockbatch.Runs
	// s3 and bucket hold the run files, for tests that lose some.
	s3     *s3.Client
	bucket string
	// cfg and deps made lane; intake is the economy queue's receiver.
	cfg    economy.Config
	deps   economy.Deps
	intake *sqsqueue.Receiver
}

// startsAfter is how long the batch stand-in keeps a run scheduled
// before it processes it: an hour holds it there.
const (
	startsNow   = time.Duration(0)
	startsLater = time.Hour
)

func newEnv(t *testing.T, startAfter time.Duration, rerouteOnFailure bool) *env {
	t.Helper()
	ctx := t.Context()
	b := standin.NewBackend(t, sqsqueue.QueueOptions{})
	econURL, err := sqsqueue.CreateEconomyQueue(ctx, b.Kumo.SQS, b.Table)
	if err != nil {
		t.Fatal(err)
	}
	urls := sqsqueue.LaneURLs{jobs.LaneEconomy: econURL}
	for k, v := range b.QueueURLs {
		urls[k] = v
	}
	lanes, err := sqsqueue.NewLanes(b.Kumo.SQS, urls)
	if err != nil {
		t.Fatal(err)
	}
	s3c, bucketName := standin.NewBucket(t, b.Kumo)
	e := &env{store: b.Store(dynamo.Options{}), lanes: lanes, backend: b, s3: s3c, bucket: bucketName,
		clock: &clock{t: time.Now().UTC()}, events: make(chan events.CloudWatchEvent, 100)}
	e.batch = localbatch.New(localbatch.Options{S3: s3c, Model: localmodel.New(localmodel.Options{TokensPerSecond: 10_000}),
		StartAfter: startAfter, MinRecords: 3,
		OnEvent: func(_ context.Context, ev events.CloudWatchEvent) { e.events <- ev }})
	hs := httptest.NewServer(e.batch)
	t.Cleanup(func() { hs.Close(); e.batch.Close() })
	e.runs = bedrockbatch.NewRuns(bedrock.NewFromConfig(standin.AWSConfig(hs.URL)), "arn:aws:iam::000000000000:role/batch")
	e.cfg = economy.Config{
		Limits: func(string) bedrockbatch.Limits {
			return bedrockbatch.Limits{MinRecords: 3, MaxRecords: 4, MaxFileBytes: 1 << 20, MaxJobBytes: 1 << 20}
		},
		MaxWait: time.Hour, TimeoutHours: 24, RerouteOnRunFailure: rerouteOnFailure, Now: e.clock.Now,
	}
	e.intake = sqsqueue.NewReceiver(b.Kumo.SQS, econURL)
	e.deps = economy.Deps{
		Store: e.store, Intake: e.intake, Lanes: lanes,
		Files: s3bucket.New(s3c, bucketName),
		Runs:  e.runs,
	}
	e.lane = economy.New(e.cfg, e.deps)
	return e
}

// laneWith is the env's lane with some of its collaborators changed (a
// fault injected), sharing everything else.
func (e *env) laneWith(change func(*economy.Deps)) *economy.Lane {
	d := e.deps
	change(&d)
	return economy.New(e.cfg, d)
}

// submit stores an economy job and sends its message, as the API does
// (without its owner's budget: see submitCounted).
func (e *env) submit(t *testing.T, owner, prompt string, fallback bool) jobs.Job {
	t.Helper()
	return e.create(t, jobs.Job{ID: jobs.NewID(), Owner: owner, Lane: jobs.LaneEconomy, Prompt: prompt, Model: "promptq-local",
		MaxTokens: 40, EconomyFallback: fallback})
}

// submitCounted is submit with the job's worst case reserved of its
// owner's daily budget first, as the API reserves it.
func (e *env) submitCounted(t *testing.T, owner, prompt string) jobs.Job {
	t.Helper()
	j := jobs.Job{ID: jobs.NewID(), Owner: owner, Lane: jobs.LaneEconomy, Prompt: prompt, Model: "promptq-local", MaxTokens: 40}
	worst := j.Request().WorstCaseTokens()
	r, err := e.store.Reserve(t.Context(), owner, jobs.Cost{Jobs: 1, Tokens: worst}, jobs.Budgets{})
	if err != nil {
		t.Fatal(err)
	}
	j.Budget = jobs.Budget{Day: r.Day, Reserved: worst}
	return e.create(t, j)
}

func (e *env) create(t *testing.T, j jobs.Job) jobs.Job {
	t.Helper()
	j = j.AsNew(e.clock.Now(), time.Hour)
	got, _, err := e.store.Create(t.Context(), j, "fp-"+j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.lanes.Send(t.Context(), got.Message()); err != nil {
		t.Fatal(err)
	}
	return got
}

// runToEnd hands the lane Bedrock's events, and runs its check after
// each, until no run is open.
func (e *env) runToEnd(t *testing.T) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if err := e.lane.HandleEvent(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
			if _, err := e.lane.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			if open, _ := e.store.OpenRuns(t.Context()); len(open) == 0 {
				return
			}
		case <-deadline:
			t.Fatal("the run did not end within 20 s")
		}
	}
}

func (e *env) job(t *testing.T, j jobs.Job) jobs.Job {
	t.Helper()
	got, err := e.store.Get(t.Context(), j.Owner, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// bulkMessages reads the bulk lane's queue.
func (e *env) bulkMessages(t *testing.T) map[string]bool {
	t.Helper()
	r := sqsqueue.NewReceiver(e.backend.Kumo.SQS, e.backend.QueueURLs[jobs.LaneBulk])
	ids := map[string]bool{}
	for {
		msgs, err := r.Receive(t.Context(), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return ids
		}
		for _, m := range msgs {
			pm, err := sqsqueue.ParseMessage(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			ids[pm.JobID] = true
		}
	}
}

func TestARunEndsEveryJobOnce(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	var all []jobs.Job
	for i := range 5 {
		all = append(all, e.submit(t, fmt.Sprintf("user%d", i%2), fmt.Sprintf("Economy prompt %d", i), false))
		e.clock.Add(time.Second)
	}
	rep, err := e.lane.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gathered != 5 || rep.Runs != 1 || rep.InRuns != 4 || rep.OnDemand != 0 {
		t.Fatalf("collect = %+v, want 5 gathered, one run of the 4 oldest, none on demand", rep)
	}
	inRun := e.job(t, all[0])
	if inRun.Status != jobs.StatusRunning || inRun.Economy == nil || inRun.Economy.RunID == "" || inRun.Economy.RecordsTotal != 4 {
		t.Errorf("a job in the run reads %s %+v", inRun.Status, inRun.Economy)
	}
	if w := e.job(t, all[4]); w.Status != jobs.StatusQueued || w.Economy == nil || w.Economy.RunID != "" {
		t.Errorf("the fifth job reads %s %+v, want waiting", w.Status, w.Economy)
	}
	e.runToEnd(t)
	for _, j := range all[:4] {
		got := e.job(t, j)
		if got.Status != jobs.StatusSucceeded || got.GeneratedText == "" || got.Tokens.Output == 0 || got.StopReason == "" {
			t.Errorf("job %s: %s, %d output tokens, stop %q, text %q", j.ID, got.Status, got.Tokens.Output, got.StopReason, got.GeneratedText)
		}
	}
	// Completing again changes nothing.
	reps, err := e.lane.Check(ctx)
	if err != nil || len(reps) != 0 {
		t.Errorf("check after the end: %+v, %v", reps, err)
	}

	// The fifth waits for others, then, past MaxWait, runs on demand.
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 0 || rep.OnDemand != 0 {
		t.Errorf("collect before the wait = %+v, %v", rep, err)
	}
	e.clock.Add(2 * time.Hour)
	if rep, err := e.lane.Collect(ctx); err != nil || rep.OnDemand != 1 {
		t.Errorf("collect after the wait = %+v, %v", rep, err)
	}
	if got := e.job(t, all[4]); got.Lane != jobs.LaneBulk || got.Status != jobs.StatusQueued {
		t.Errorf("the fifth job is %s on %s, want queued on bulk", got.Status, got.Lane)
	}
	if ids := e.bulkMessages(t); len(ids) != 1 || !ids[all[4].ID] {
		t.Errorf("bulk queue holds %v, want the fifth job once", ids)
	}
	if w, _ := e.store.Waiting(ctx); len(w) != 0 {
		t.Errorf("still waiting: %+v", w)
	}
}

func TestFailedRecordsCancelledJobsAndUnknownEvents(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	ok := e.submit(t, "alice", "Fine prompt", false)
	bad := e.submit(t, "alice", "promptq-fault:invalid please", false)
	badFallback := e.submit(t, "bob", "promptq-fault:invalid again", true)
	cancelled := e.submit(t, "bob", "Soon cancelled", false)
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 || rep.InRuns != 4 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	if _, err := e.store.Cancel(ctx, "bob", cancelled.ID); err != nil {
		t.Fatal(err)
	}
	// An event of a job promptq did not start is ignored.
	if err := e.lane.HandleEvent(ctx, events.CloudWatchEvent{Source: "aws.bedrock", DetailType: "Batch Inference Job State Change",
		Detail: []byte(`{"batchJobName":"someone-else","status":"Completed"}`)}); err != nil {
		t.Errorf("a stranger's event: %v", err)
	}
	e.runToEnd(t)
	if got := e.job(t, ok); got.Status != jobs.StatusSucceeded {
		t.Errorf("ok job is %s", got.Status)
	}
	got := e.job(t, bad)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailureModel || !strings.Contains(got.Failure.Message, "400") {
		t.Errorf("failed record's job: %s %+v", got.Status, got.Failure)
	}
	if got := e.job(t, badFallback); got.Status != jobs.StatusQueued || got.Lane != jobs.LaneBulk {
		t.Errorf("failed record with fallback: %s on %s, want queued on bulk", got.Status, got.Lane)
	}
	// The run processed the cancelled job's record all the same: its
	// tokens show what it was charged.
	if got := e.job(t, cancelled); got.Status != jobs.StatusCancelled || got.Tokens.Output == 0 || got.ChargePending() {
		t.Errorf("cancelled job: %s with %d output tokens, charge pending %v; want cancelled, charged what the run processed",
			got.Status, got.Tokens.Output, got.ChargePending())
	}
	if ids := e.bulkMessages(t); len(ids) != 1 || !ids[badFallback.ID] {
		t.Errorf("bulk queue holds %v, want the fallback job once", ids)
	}
}

func TestAStoppedRunFailsOrReroutesItsJobs(t *testing.T) {
	for _, reroute := range []bool{false, true} {
		t.Run(fmt.Sprintf("reroute=%v", reroute), func(t *testing.T) {
			e := newEnv(t, startsLater, reroute)
			ctx := t.Context()
			var all []jobs.Job
			for i := range 3 {
				all = append(all, e.submit(t, "carol", fmt.Sprintf("prompt %d", i), false))
			}
			if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 {
				t.Fatalf("collect = %+v, %v", rep, err)
			}
			run, err := e.store.Run(ctx, e.job(t, all[0]).Economy.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.runs.Stop(ctx, run.JobARN); err != nil {
				t.Fatal(err)
			}
			e.runToEnd(t)
			for _, j := range all {
				got := e.job(t, j)
				switch {
				case reroute && (got.Status != jobs.StatusQueued || got.Lane != jobs.LaneBulk):
					t.Errorf("job %s: %s on %s, want queued on bulk", j.ID, got.Status, got.Lane)
				case !reroute && (got.Status != jobs.StatusFailed || got.Failure.Code != jobs.FailureEconomyRun):
					t.Errorf("job %s: %s %+v, want failed economy_run_failed", j.ID, got.Status, got.Failure)
				}
			}
		})
	}
}

func TestARunWhoseJobsAreAllCancelledIsStopped(t *testing.T) {
	e := newEnv(t, startsLater, true)
	ctx := t.Context()
	var all []jobs.Job
	for i := range 3 {
		all = append(all, e.submit(t, "dave", fmt.Sprintf("prompt %d", i), false))
	}
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	runID := e.job(t, all[0]).Economy.RunID
	// Two of three cancelled: the run goes on.
	for _, j := range all[:2] {
		if _, err := e.store.Cancel(ctx, j.Owner, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.lane.Check(ctx); err != nil {
		t.Fatal(err)
	}
	run, err := e.store.Run(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := e.runs.Status(ctx, run.JobARN); err != nil || st.Ended() || run.Cancelled != 2 {
		t.Fatalf("with two of three cancelled: Bedrock says %s (%v), the run counts %d cancelled", st.State, err, run.Cancelled)
	}
	if _, err := e.store.Cancel(ctx, all[2].Owner, all[2].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lane.Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.runToEnd(t)
	if st, err := e.runs.Status(ctx, run.JobARN); err != nil || st.State != "Stopped" {
		t.Errorf("the run's job is %s (%v), want Stopped", st.State, err)
	}
	for _, j := range all {
		if got := e.job(t, j); got.Status != jobs.StatusCancelled || got.Lane != jobs.LaneEconomy {
			t.Errorf("job %s is %s on %s, want cancelled on economy", j.ID, got.Status, got.Lane)
		}
	}
}

// A run's manifest is read with its output, and its counts agree with the
// results: here, two records succeeded and one failed.
func TestCompletionReadsTheManifest(t *testing.T) {
	e := newEnv(t, startsNow, false)
	ctx := t.Context()
	e.submit(t, "erin", "one", false)
	e.submit(t, "erin", "two", false)
	bad := e.submit(t, "erin", "promptq-fault:invalid three", false)
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	runID := e.job(t, bad).Economy.RunID
	// The stand-in's events are not handled: the run is completed by
	// hand once Bedrock says it ended.
	for ev := range e.events {
		if strings.Contains(string(ev.Detail), `"status":"Completed"`) {
			break
		}
	}
	rep, err := e.lane.Complete(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ended || rep.Succeeded != 2 || rep.Failed != 1 || rep.Manifest == nil ||
		rep.Manifest.TotalRecordCount != 3 || rep.Manifest.SuccessRecordCount != 2 || rep.Manifest.ErrorRecordCount != 1 {
		t.Errorf("report %+v, manifest %+v", rep, rep.Manifest)
	}
}

// The review's attack: a user cancels all but one job of each economy run
// once it is in_run, to get the budget back at once and go again. Bedrock
// processes (and bills) every record of the run all the same, so what the
// run processed is charged to its owner, cancelled or not, and a job
// cancelled inside its run keeps its reservation until the run ends.
func TestACancelInsideARunIsChargedWhatTheRunProcessed(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	var all []jobs.Job
	reserved := 0
	for i := range 3 {
		j := e.submitCounted(t, "mallory", fmt.Sprintf("Economy prompt %d", i))
		all = append(all, j)
		reserved += j.Budget.Reserved
	}
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 || rep.InRuns != 3 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	for _, j := range all[1:] {
		got, err := e.store.Cancel(ctx, j.Owner, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ChargePending() {
			t.Errorf("a job cancelled in its run: charge pending %v, want true", got.ChargePending())
		}
	}
	u, err := e.store.Usage(ctx, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if u.Committed != reserved || u.Active != 3 {
		t.Errorf("while the run goes on: %d committed and %d active, want every reservation (%d) and job (3) still held", u.Committed, u.Active, reserved)
	}
	if got := e.job(t, all[1]); !got.ChargePending() || got.Budget.Settled {
		t.Errorf("GET of a job cancelled in its run: charge pending %v, settled %v", got.ChargePending(), got.Budget.Settled)
	}

	e.runToEnd(t)
	run, err := e.store.Run(ctx, e.job(t, all[0]).Economy.RunID)
	if err != nil {
		t.Fatal(err)
	}
	m := e.manifest(t, run)
	u, err = e.store.Usage(ctx, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if processed := m.InputTokenCount + m.OutputTokenCount; processed == 0 || u.Charged != processed || u.Committed != processed || u.Active != 0 {
		t.Errorf("after the run: %d charged, %d committed, %d active; the run's manifest says %d tokens processed", u.Charged, u.Committed, u.Active, processed)
	}
	for _, j := range all[1:] {
		got := e.job(t, j)
		if got.Status != jobs.StatusCancelled || got.Tokens.Total() == 0 || got.ChargePending() || !got.Budget.Settled {
			t.Errorf("cancelled job %s after its run: %s, %+v tokens, pending %v, settled %v", j.ID, got.Status, got.Tokens, got.ChargePending(), got.Budget.Settled)
		}
	}
	// Completing the run again charges nothing twice.
	if _, err := e.lane.Complete(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if again, err := e.store.Usage(ctx, "mallory"); err != nil || again.Charged != u.Charged {
		t.Errorf("completed again: %d charged (%v), was %d", again.Charged, err, u.Charged)
	}
}

// When a run's output lacks records its manifest counts (lost, or a run
// stopped between the two), what the manifest says was processed beyond
// the results read is charged to the jobs cancelled inside the run.
func TestWhatAManifestCountsWithoutResultsIsChargedToTheCancelledJobs(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	var all []jobs.Job
	for i := range 3 {
		all = append(all, e.submitCounted(t, "mallory", fmt.Sprintf("Economy prompt %d", i)))
	}
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	for ev := range e.events {
		if strings.Contains(string(ev.Detail), `"status":"Completed"`) {
			break
		}
	}
	for _, j := range all {
		if _, err := e.store.Cancel(ctx, j.Owner, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	run, err := e.store.Run(ctx, e.job(t, all[0]).Economy.RunID)
	if err != nil {
		t.Fatal(err)
	}
	m := e.manifest(t, run)
	keys, err := s3bucket.New(e.s3, e.bucket).List(ctx, run.OutputPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".jsonl.out") {
			if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: &k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := e.lane.Complete(ctx, run.ID)
	if err != nil || !rep.Ended || rep.Cancelled != 3 {
		t.Fatalf("complete = %+v, %v; want the run ended and its 3 cancelled jobs settled", rep, err)
	}
	u, err := e.store.Usage(ctx, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if processed := m.InputTokenCount + m.OutputTokenCount; processed == 0 || u.Charged != processed || u.Active != 0 {
		t.Errorf("%d charged, %d active; the manifest says %d tokens processed", u.Charged, u.Active, processed)
	}
}

// manifest reads run's manifest.json.out.
func (e *env) manifest(t *testing.T, run jobs.Run) bedrockbatch.Manifest {
	t.Helper()
	files := s3bucket.New(e.s3, e.bucket)
	keys, err := files.List(t.Context(), run.OutputPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "/manifest.json.out") {
			body, err := files.Open(t.Context(), k)
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			m, err := bedrockbatch.ReadManifest(body)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("run %s has no manifest", run.ID)
	return bedrockbatch.Manifest{}
}

// A run of Claude Haiku 5.5 jobs writes records the model takes, by the
// rule on-demand calls follow (jobs.Request.Params): a temperature a
// client wrote past the API is left out (the model would fail the record
// with Bedrock's message, as the batch stand-in does), and each job's
// effort goes in its record (at max the model thinks, and its thinking is
// billed as output).
func TestARunWritesRecordsTheModelTakes(t *testing.T) {
	e := newEnv(t, startsNow, false)
	const haiku55 = "us.anthropic.claude-haiku-5-5"
	half := 0.5
	newJob := func(prompt, effort string, temperature *float64) jobs.Job {
		return e.create(t, jobs.Job{ID: jobs.NewID(), Owner: "alice", Lane: jobs.LaneEconomy, Prompt: prompt, Model: haiku55,
			Effort: effort, Temperature: temperature, MaxTokens: 500})
	}
	withTemperature := newJob("Say hello.", "medium", &half)
	medium := newJob("Count to three.", "medium", nil)
	thinking := newJob("Count to three.", "max", nil)
	if rep, err := e.lane.Collect(t.Context()); err != nil || rep.Runs != 1 || rep.InRuns != 3 {
		t.Fatalf("collect = %+v, %v; want one run of the three", rep, err)
	}
	e.runToEnd(t)
	for _, j := range []jobs.Job{withTemperature, medium, thinking} {
		if got := e.job(t, j); got.Status != jobs.StatusSucceeded {
			t.Fatalf("job %q at %s: %s %+v, want succeeded", j.Prompt, j.Effort, got.Status, got.Failure)
		}
	}
	m, th := e.job(t, medium), e.job(t, thinking)
	if m.GeneratedText != th.GeneratedText || m.Tokens.Output != len(strings.Fields(m.GeneratedText)) ||
		th.Tokens.Output != m.Tokens.Output+localmodel.ThinkingTokens("max") {
		t.Errorf("at medium %d output tokens, at max %d, for the same %d words; want max to pay its %d thinking tokens",
			m.Tokens.Output, th.Tokens.Output, len(strings.Fields(m.GeneratedText)), localmodel.ThinkingTokens("max"))
	}
}

// A record the model declined (its stop reason refusal) fails its job with
// code refused, as on demand, charged what the run billed for it.
func TestARefusedRecordFailsItsJob(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	refused := e.submitCounted(t, "uma", "promptq-fault:refuse Tell me something")
	e.submitCounted(t, "uma", "Economy prompt one")
	e.submitCounted(t, "uma", "Economy prompt two")
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	e.runToEnd(t)
	got := e.job(t, refused)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailureRefused || got.Budget.Charged == 0 {
		t.Errorf("the refused job: %s %+v, charged %d; want failed refused, charged", got.Status, got.Failure, got.Budget.Charged)
	}
}

// A job with a response format runs with it in its record (the local
// batch stand-in honours outputConfig.textFormat): an answer that
// conforms succeeds; one that does not fails its job with invalid_output
// and the validation error at once, charged, since the economy lane does
// not try again.
func TestARunChecksAnswersAgainstTheirSchema(t *testing.T) {
	e := newEnv(t, startsNow, false)
	const schema = `{"type":"object","properties":{"label":{"enum":["spam","ham"]},"score":{"type":"integer"}},"required":["label","score"]}`
	format := &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Name: "label", Schema: []byte(schema)}
	newJob := func(prompt string) jobs.Job {
		return e.create(t, jobs.Job{ID: jobs.NewID(), Owner: "alice", Lane: jobs.LaneEconomy, Prompt: prompt,
			Model: "us.anthropic.claude-haiku-5-5", MaxTokens: 500, ResponseFormat: format})
	}
	good := newJob("Is this spam? Win a prize.")
	bad := newJob("Is this spam? promptq-fault:invalid-json")
	newJob("Is this spam? Lunch at noon.") // a run takes three at least
	if rep, err := e.lane.Collect(t.Context()); err != nil || rep.Runs != 1 || rep.InRuns != 3 {
		t.Fatalf("collect = %+v, %v; want one run of the three", rep, err)
	}
	e.runToEnd(t)
	got := e.job(t, good)
	if got.Status != jobs.StatusSucceeded {
		t.Fatalf("the job that conforms: %s %+v", got.Status, got.Failure)
	}
	if _, err := format.Check(got.GeneratedText); err != nil {
		t.Errorf("its answer %q: %v", got.GeneratedText, err)
	}
	got = e.job(t, bad)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailureInvalidOutput ||
		!strings.Contains(got.Failure.Message, "not JSON") || !strings.Contains(got.Failure.Message, "does not try again") {
		t.Errorf("the job that does not conform: %s %+v; want failed invalid_output, saying why", got.Status, got.Failure)
	}
}
