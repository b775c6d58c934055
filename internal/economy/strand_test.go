package economy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/economy"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Fault tests: whatever stops a collection after it claimed jobs for a
// run, every job still ends, once, and no run stays open for ever.

var errInjected = errors.New("injected fault")

// faultyStore is the real store with faults injected by name.
type faultyStore struct {
	*dynamo.Store
	// dead fails every write once set: the collector "died".
	dead atomic.Bool
	// lostClaim loses the answer of the first ClaimForRun: the claim
	// lands, and the call fails.
	lostClaim bool
	claimsRun atomic.Int64
}

func (f *faultyStore) ClaimForRun(ctx context.Context, owner, id, runID string, attempt int, lease time.Duration) error {
	err := f.Store.ClaimForRun(ctx, owner, id, runID, attempt, lease)
	if n := f.claimsRun.Add(1); f.lostClaim && n == 1 {
		return errInjected
	}
	return err
}

func (f *faultyStore) RerouteFromRun(ctx context.Context, owner, id, runID string, attempt int, lane jobs.Lane) (jobs.Job, error) {
	if f.dead.Load() {
		return jobs.Job{}, errInjected
	}
	return f.Store.RerouteFromRun(ctx, owner, id, runID, attempt, lane)
}

func (f *faultyStore) UpdateRun(ctx context.Context, r jobs.Run) error {
	if f.dead.Load() {
		return errInjected
	}
	return f.Store.UpdateRun(ctx, r)
}

// faultyFiles fails every Put, and then (die) kills the store's writes.
type faultyFiles struct {
	economyFiles
	die *faultyStore
}

type economyFiles interface {
	Put(ctx context.Context, key string, body []byte) error
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]string, error)
	URI(key string) string
}

func (f faultyFiles) Put(context.Context, string, []byte) error {
	if f.die != nil {
		f.die.dead.Store(true)
	}
	return errInjected
}

// faultyRuns fails Start with err.
type faultyRuns struct {
	*bedrockbatch.Runs
	err error
}

func (f faultyRuns) Start(context.Context, bedrockbatch.Start) (string, error) { return "", f.err }

// everyJobEndsOnTheBulkLane checks that each job is queued on the bulk
// lane with exactly one message there, and that no run is left open.
func (e *env) everyJobEndsOnTheBulkLane(t *testing.T, all []jobs.Job) {
	t.Helper()
	ids := e.bulkMessages(t)
	for _, j := range all {
		got := e.job(t, j)
		if got.Status != jobs.StatusQueued || got.Lane != jobs.LaneBulk || !ids[j.ID] {
			t.Errorf("job %s: %s on %s, message on the bulk lane %v; want queued on bulk with its message", j.ID, got.Status, got.Lane, ids[j.ID])
		}
	}
	if len(ids) != len(all) {
		t.Errorf("the bulk lane holds %d messages for %d jobs", len(ids), len(all))
	}
	if open, err := e.store.OpenRuns(t.Context()); err != nil || len(open) != 0 {
		t.Errorf("open runs %v (%v), want none", open, err)
	}
}

func (e *env) submitN(t *testing.T, n int, owner string) []jobs.Job {
	t.Helper()
	var all []jobs.Job
	for i := range n {
		all = append(all, e.submit(t, owner, fmt.Sprintf("Economy prompt %d", i), false))
		e.clock.Add(time.Second)
	}
	return all
}

// A collector that stops for good after claiming a run's jobs (here, its
// input write fails and then every write with it) leaves a run the
// completion's check finds: once the run is older than any collection,
// the check abandons it and its jobs run on the bulk lane.
func TestJobsOfACollectorThatDiedRunOnTheBulkLane(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	all := e.submitN(t, 3, "nina")
	fs := &faultyStore{Store: e.store}
	dying := e.laneWith(func(d *economy.Deps) {
		d.Store = fs
		d.Files = faultyFiles{economyFiles: d.Files, die: fs}
	})
	if _, err := dying.Collect(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("the dying collection: %v, want the injected fault", err)
	}
	for _, j := range all {
		if got := e.job(t, j); got.Status != jobs.StatusRunning {
			t.Fatalf("job %s is %s after the claims, want running", j.ID, got.Status)
		}
	}
	// Too soon: the collector might still be at work.
	if _, err := e.lane.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.job(t, all[0]); got.Status != jobs.StatusRunning {
		t.Fatalf("the check took a run still in its grace: %s", got.Status)
	}
	e.clock.Add(30 * time.Minute)
	if _, err := e.lane.Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.everyJobEndsOnTheBulkLane(t, all)
	// The waiting records of the rerouted jobs go with the next
	// collection, which runs nothing.
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 0 {
		t.Errorf("next collection: %+v, %v", rep, err)
	}
	if w, _ := e.store.Waiting(ctx); len(w) != 0 {
		t.Errorf("still waiting: %+v", w)
	}
}

// Each write that fails after the claims ends the run at once: its jobs
// run on the bulk lane.
func TestAFailureAfterTheClaimsSendsTheJobsToTheBulkLane(t *testing.T) {
	faults := map[string]func(d *economy.Deps, e *env){
		"the input is not written": func(d *economy.Deps, _ *env) {
			d.Files = faultyFiles{economyFiles: d.Files}
		},
		"Bedrock refuses the run": func(d *economy.Deps, e *env) {
			d.Runs = faultyRuns{Runs: e.runs, err: fmt.Errorf("start: %w", errInjected)}
		},
		"a claim's answer is lost": func(d *economy.Deps, e *env) {
			d.Store = &faultyStore{Store: e.store, lostClaim: true}
		},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, startsNow, false)
			ctx := t.Context()
			all := e.submitN(t, 3, "olga")
			faulty := e.laneWith(func(d *economy.Deps) { fault(d, e) })
			if _, err := faulty.Collect(ctx); !errors.Is(err, errInjected) {
				t.Fatalf("collect: %v, want the injected fault", err)
			}
			var claimed, waiting []jobs.Job
			for _, j := range all {
				if got := e.job(t, j); got.Lane == jobs.LaneBulk {
					claimed = append(claimed, j)
				} else {
					waiting = append(waiting, j)
				}
			}
			if len(claimed) == 0 {
				t.Fatal("no job was claimed before the fault")
			}
			e.everyJobEndsOnTheBulkLane(t, claimed)
			// A job never claimed still waits, and runs when the lane
			// sends what waited too long on demand.
			for _, j := range waiting {
				if got := e.job(t, j); got.Status != jobs.StatusQueued || got.Lane != jobs.LaneEconomy || got.InRun() {
					t.Errorf("unclaimed job %s: %s on %s", j.ID, got.Status, got.Lane)
				}
			}
			// The first collection drops the waiting records of the
			// rerouted jobs (the plan counted them), the second sends the
			// rest on demand.
			e.clock.Add(2 * time.Hour)
			for range 2 {
				if _, err := e.lane.Collect(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, j := range all {
				if got := e.job(t, j); got.Lane != jobs.LaneBulk || got.Status != jobs.StatusQueued {
					t.Errorf("job %s ends %s on %s", j.ID, got.Status, got.Lane)
				}
			}
		})
	}
}

// A start Bedrock refuses for its quota leaves the run starting with its
// input whole; the check starts it once the grace has passed.
func TestARunBedrockThrottledIsStartedByTheCheck(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	all := e.submitN(t, 3, "pia")
	throttled := e.laneWith(func(d *economy.Deps) {
		d.Runs = faultyRuns{Runs: e.runs, err: &jobs.Error{Kind: jobs.KindRateLimited, Message: "throttled", Err: errInjected}}
	})
	if _, err := throttled.Collect(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("collect: %v", err)
	}
	e.clock.Add(30 * time.Minute)
	if _, err := e.lane.Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.runToEnd(t)
	for _, j := range all {
		if got := e.job(t, j); got.Status != jobs.StatusSucceeded {
			t.Errorf("job %s: %s, want succeeded in the run the check started", j.ID, got.Status)
		}
	}
}

// A run listed among the open runs without a record (an older version
// listed a run before recording it) is dropped by the check, not failed
// on every 15 minutes for ever.
func TestAnOpenRunWithoutARecordIsDropped(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	_, err := e.backend.Kumo.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.backend.Table),
		Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "ECON"}, "sk": &types.AttributeValueMemberS{Value: "RUN#" + jobs.NewID()},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.lane.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	if open, err := e.store.OpenRuns(ctx); err != nil || len(open) != 0 {
		t.Errorf("open runs %v, %v; want none", open, err)
	}
}

// A job whose run was lost entirely is requeued by the rescuer once its
// claim lapses: the requeue clears its run, so the next collection
// gathers it and a new run claims it.
func TestAJobRequeuedFromALostRunRunsAgain(t *testing.T) {
	e := newEnv(t, startsNow, true)
	ctx := t.Context()
	all := e.submitN(t, 3, "quinn")
	lost := all[0]
	if err := e.store.PutRun(ctx, jobs.Run{ID: "lost-run", Model: lost.Model, State: jobs.RunStarting, CreatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ClaimForRun(ctx, lost.Owner, lost.ID, "lost-run", 1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// The run is lost: it ended without a word of its job.
	if err := e.store.UpdateRun(ctx, jobs.Run{ID: "lost-run", Model: lost.Model, State: jobs.RunEnded, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // its claim lapses
	requeued, err := e.store.Requeue(ctx, lost.Owner, lost.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.lanes.Send(ctx, requeued.Message()); err != nil { // as the rescuer does
		t.Fatal(err)
	}
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 || rep.InRuns != 3 {
		t.Fatalf("collect = %+v, %v; want one run of all three", rep, err)
	}
	e.runToEnd(t)
	for _, j := range all {
		if got := e.job(t, j); got.Status != jobs.StatusSucceeded {
			t.Errorf("job %s: %s", j.ID, got.Status)
		}
	}
}

// slowIntake moves the lane's clock a minute each receive: a backlog too
// large for one collection.
type slowIntake struct {
	*sqsqueue.Receiver
	clock *clock
}

func (s slowIntake) Receive(ctx context.Context, n int, visibility time.Duration) ([]sqsqueue.Received, error) {
	s.clock.Add(time.Minute)
	return s.Receiver.Receive(ctx, n, visibility)
}

// A backlog larger than one collection can gather is gathered over
// several: the collection stops gathering at its share of its time and
// plans runs from what it has, leaving the rest in the queue.
func TestACollectionStopsGatheringBeforeItsDeadline(t *testing.T) {
	e := newEnv(t, startsLater, true)
	all := e.submitN(t, 120, "rosa")
	slow := e.laneWith(func(d *economy.Deps) { d.Intake = slowIntake{Receiver: e.intake, clock: e.clock} })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	rep, err := slow.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	depth, err := e.intake.Depth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.GatherStopped || rep.Gathered == 0 || rep.Gathered >= len(all) || rep.Runs == 0 {
		t.Errorf("collect = %+v; want gathering stopped early with runs planned from some of %d jobs", rep, len(all))
	}
	if left := depth.Visible + depth.InFlight; rep.Gathered+left != len(all) {
		t.Errorf("%d gathered and %d left in the queue, of %d", rep.Gathered, left, len(all))
	}
}

// blockingIntake holds the first receive until released.
type blockingIntake struct {
	*sqsqueue.Receiver
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockingIntake) Receive(ctx context.Context, n int, visibility time.Duration) ([]sqsqueue.Received, error) {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
	return b.Receiver.Receive(ctx, n, visibility)
}

// Two collections at once would plan the same jobs and split them into
// runs each below Bedrock's minimum: the second does nothing.
func TestTwoCollectionsAtOnce(t *testing.T) {
	e := newEnv(t, startsLater, true)
	all := e.submitN(t, 3, "sara")
	b := &blockingIntake{Receiver: e.intake, entered: make(chan struct{}), release: make(chan struct{})}
	first := e.laneWith(func(d *economy.Deps) { d.Intake = b })
	done := make(chan economy.CollectReport)
	go func() {
		rep, err := first.Collect(t.Context())
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	<-b.entered
	second, err := e.lane.Collect(t.Context())
	if err != nil || !second.Busy || second.Runs != 0 {
		t.Errorf("the second collection = %+v, %v; want it to do nothing", second, err)
	}
	close(b.release)
	if rep := <-done; rep.Runs != 1 || rep.InRuns != len(all) {
		t.Errorf("the first collection = %+v; want one run of all %d jobs", rep, len(all))
	}
}

// failedRuns reports every run Failed with message.
type failedRuns struct {
	*bedrockbatch.Runs
	message string
}

func (f failedRuns) Status(ctx context.Context, arn string) (bedrockbatch.Status, error) {
	st, err := f.Runs.Status(ctx, arn)
	st.State, st.Message = "Failed", f.message
	return st, err
}

// A failed run's message reaches its jobs' owners without what it says of
// the deployment: the role, the bucket, the account.
func TestARunsFailureIsScrubbed(t *testing.T) {
	e := newEnv(t, startsLater, false)
	ctx := t.Context()
	all := e.submitN(t, 3, "tess")
	if rep, err := e.lane.Collect(ctx); err != nil || rep.Runs != 1 {
		t.Fatalf("collect = %+v, %v", rep, err)
	}
	failing := e.laneWith(func(d *economy.Deps) {
		d.Runs = failedRuns{Runs: e.runs, message: "arn:aws:iam::123456789012:role/promptq-EconomyRole cannot read s3://promptq-economy-7f3a/runs/x/input.jsonl"}
	})
	if _, err := failing.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, j := range all {
		got := e.job(t, j)
		if got.Status != jobs.StatusFailed || got.Failure == nil {
			t.Fatalf("job %s: %s, want failed", j.ID, got.Status)
		}
		for _, leak := range []string{"123456789012", "promptq-EconomyRole", "promptq-economy-7f3a", "arn:aws"} {
			if strings.Contains(got.Failure.Message, leak) {
				t.Errorf("the failure shown to its owner names %q: %s", leak, got.Failure.Message)
			}
		}
	}
}
