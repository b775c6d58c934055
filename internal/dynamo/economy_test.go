package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
)

func newEconomyJob(t *testing.T, s *dynamo.Store, owner string, fallback bool) jobs.Job {
	t.Helper()
	now := time.Now()
	j := jobs.Job{ID: jobs.NewID(), Owner: owner, Lane: jobs.LaneEconomy, Prompt: "p", Model: "m", MaxTokens: 10,
		EconomyFallback: fallback}.AsNew(now, time.Hour)
	got, created, err := s.Create(t.Context(), j, "fp-"+j.ID)
	if err != nil || !created {
		t.Fatalf("create: %v (created %v)", err, created)
	}
	return got
}

func TestEconomyWaitingRunsAndReroute(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	s := dynamo.New(k.DynamoDB, newTable(t, k), dynamo.Options{})
	ctx := t.Context()

	a := newEconomyJob(t, s, "alice", true)
	b := newEconomyJob(t, s, "bob", false)
	if a.Economy == nil || a.Economy.RunID != "" || !a.EconomyFallback || b.EconomyFallback {
		t.Fatalf("a new economy job reads back as %+v, fallback %v", a.Economy, a.EconomyFallback)
	}
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ws := []jobs.Waiting{
		{ID: a.ID, Owner: "alice", Model: "m", CreatedAt: t0, Bytes: 100},
		{ID: b.ID, Owner: "bob", Model: "m", CreatedAt: t0.Add(time.Second), Bytes: 200},
	}
	// Added twice: still two waiting jobs.
	for range 2 {
		if err := s.AddWaiting(ctx, ws); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Waiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != ws[0] || got[1] != ws[1] {
		t.Fatalf("waiting = %+v, want %+v", got, ws)
	}

	// a is claimed for a run; a second claim, or one of a job in another
	// lane's state, is a conflict.
	run := jobs.Run{ID: "run1", Model: "m", State: jobs.RunStarting, Records: 1, InputKey: "runs/run1/input.jsonl",
		OutputPrefix: "runs/run1/output/", CreatedAt: t0}
	if err := s.ClaimForRun(ctx, "alice", a.ID, "run1", 1, time.Hour); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("a claim for a run not recorded: %v, want a conflict", err)
	}
	if err := s.PutRun(ctx, run, []jobs.RunMember{{Owner: "alice", JobID: a.ID, Attempt: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimForRun(ctx, "alice", a.ID, "run1", 2, time.Hour); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("a claim as an attempt other than the next: %v, want a conflict", err)
	}
	if err := s.ClaimForRun(ctx, "alice", a.ID, "run1", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Head(ctx, "alice", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if claimed.Status != jobs.StatusRunning || claimed.Attempts != 1 || claimed.Economy == nil || claimed.Economy.RunID != "run1" {
		t.Errorf("claimed job = %s attempt %d economy %+v", claimed.Status, claimed.Attempts, claimed.Economy)
	}
	if err := s.ClaimForRun(ctx, "alice", a.ID, "run1", 2, time.Hour); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("second claim: %v, want a conflict", err)
	}
	if err := s.ClaimForRun(ctx, "mallory", a.ID, "run1", 2, time.Hour); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("a claim naming another owner: %v, want not found", err)
	}
	if err := s.RemoveWaiting(ctx, ws[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Waiting(ctx); len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("waiting after a's removal = %+v", got)
	}
	if j, err := s.Get(ctx, "alice", a.ID); err != nil || j.Economy == nil || j.Economy.RecordsTotal != 1 || j.Economy.RecordsDone != 0 {
		t.Errorf("a job in a run reads as %+v, %v", j.Economy, err)
	}
	open, err := s.OpenRuns(ctx)
	if err != nil || len(open) != 1 || open[0] != "run1" {
		t.Errorf("open runs = %v, %v", open, err)
	}
	members, err := s.RunMembers(ctx, "run1")
	if err != nil || len(members) != 1 || members[0] != (jobs.RunMember{Owner: "alice", JobID: a.ID, Attempt: 1}) {
		t.Errorf("members = %+v, %v", members, err)
	}
	run.State, run.JobARN, run.Done = jobs.RunEnded, "arn:x", 1
	if err := s.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Run(ctx, "run1"); err != nil || r.State != jobs.RunEnded || r.JobARN != "arn:x" || r.Done != 1 || !r.CreatedAt.Equal(t0) {
		t.Errorf("run = %+v, %v", r, err)
	}
	if open, _ := s.OpenRuns(ctx); len(open) != 0 {
		t.Errorf("an ended run is still open: %v", open)
	}
	if _, err := s.Run(ctx, "nope"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}

	// Reroute: the claimed job by its run and attempt, the waiting one
	// by neither; another attempt or run is a conflict, and so is an
	// economy lane target.
	if _, err := s.RerouteFromRun(ctx, "alice", a.ID, "run1", 7, jobs.LaneBulk); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("reroute by another attempt: %v, want a conflict", err)
	}
	if _, err := s.RerouteFromRun(ctx, "alice", a.ID, "run9", 1, jobs.LaneBulk); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("reroute from another run: %v, want a conflict", err)
	}
	if _, err := s.RerouteWaiting(ctx, "alice", a.ID, jobs.LaneBulk); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("reroute of a claimed job as waiting: %v, want a conflict", err)
	}
	if _, err := s.RerouteFromRun(ctx, "bob", b.ID, "run1", 0, jobs.LaneBulk); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("reroute of a waiting job from a run: %v, want a conflict", err)
	}
	moved, err := s.RerouteFromRun(ctx, "alice", a.ID, "run1", 1, jobs.LaneBulk)
	if err != nil || moved.Status != jobs.StatusQueued || moved.Lane != jobs.LaneBulk || moved.Economy != nil {
		t.Errorf("rerouted claimed job = %s on %s, economy %+v, %v", moved.Status, moved.Lane, moved.Economy, err)
	}
	if _, err := s.RerouteFromRun(ctx, "alice", a.ID, "run1", 1, jobs.LaneBulk); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("rerouting a bulk job: %v, want a conflict", err)
	}
	if moved, err := s.RerouteWaiting(ctx, "bob", b.ID, jobs.LaneBulk); err != nil || moved.Lane != jobs.LaneBulk {
		t.Errorf("rerouted waiting job = %+v, %v", moved, err)
	}
	if _, err := s.RerouteWaiting(ctx, "bob", b.ID, jobs.LaneEconomy); err == nil {
		t.Error("a reroute to the economy lane was taken")
	}
}

// A requeue (the rescuer's, after a run's claim lapsed) takes the job out
// of its run, so a later run can claim it.
func TestARequeueClearsTheJobsRun(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	s := dynamo.New(k.DynamoDB, newTable(t, k), dynamo.Options{Now: func() time.Time { return clock() }})
	ctx := t.Context()
	a := newEconomyJob(t, s, "alice", false)
	if err := s.PutRun(ctx, jobs.Run{ID: "lost-run", Model: "m", State: jobs.RunStarting, CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimForRun(ctx, "alice", a.ID, "lost-run", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute) // the run's claim lapsed
	requeued, err := s.Requeue(ctx, "alice", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if requeued.Status != jobs.StatusQueued || requeued.Economy == nil || requeued.Economy.RunID != "" {
		t.Fatalf("requeued = %s, economy %+v; want queued in no run", requeued.Status, requeued.Economy)
	}
	if err := s.PutRun(ctx, jobs.Run{ID: "next-run", Model: "m", State: jobs.RunStarting, CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimForRun(ctx, "alice", a.ID, "next-run", 2, time.Hour); err != nil {
		t.Errorf("a later run's claim: %v", err)
	}
}

// One collection at a time: the lease is taken by one holder until it
// lapses or is given back.
func TestTheCollectorsLease(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	now := time.Now().UTC()
	s := dynamo.New(k.DynamoDB, newTable(t, k), dynamo.Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	if ok, err := s.HoldCollector(ctx, "one", now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("first hold: %v, %v", ok, err)
	}
	if ok, err := s.HoldCollector(ctx, "two", now.Add(time.Minute)); err != nil || ok {
		t.Errorf("a second holder while the first holds it: %v, %v", ok, err)
	}
	if err := s.ReleaseCollector(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.HoldCollector(ctx, "two", now.Add(time.Minute)); ok {
		t.Error("another holder's release gave the lease back")
	}
	if err := s.ReleaseCollector(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.HoldCollector(ctx, "two", now.Add(time.Minute)); err != nil || !ok {
		t.Errorf("after the release: %v, %v", ok, err)
	}
	now = now.Add(2 * time.Minute)
	if ok, err := s.HoldCollector(ctx, "three", now.Add(time.Minute)); err != nil || !ok {
		t.Errorf("after the lease lapsed: %v, %v", ok, err)
	}
}

func TestHeadReadsTheJobItemOnly(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	s := dynamo.New(k.DynamoDB, newTable(t, k), dynamo.Options{})
	j := newEconomyJob(t, s, "alice", true)
	got, err := s.Head(t.Context(), "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusQueued || got.Lane != jobs.LaneEconomy || !got.EconomyFallback || got.Budget != j.Budget || got.Prompt != jobs.Preview(j.Prompt) {
		t.Errorf("Head = %+v", got)
	}
	if _, err := s.Head(t.Context(), "bob", j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("another owner's Head: %v, want not found", err)
	}
}
