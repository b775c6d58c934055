package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/standin"
	"github.com/promptq/promptq/internal/storetest"
)

func limitsTable(t *testing.T) (*standin.KumoServer, string) {
	t.Helper()
	k := standin.Kumo(t)
	table := standin.UniqueName(t)
	if err := dynamo.CreateTable(t.Context(), k.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	return k, table
}

// limited asserts err is a rate-limit error about field with a Retry-After.
func limited(t *testing.T, err error, field string) {
	t.Helper()
	var e *jobs.Error
	if !errors.As(err, &e) || e.Kind != jobs.KindRateLimited || e.Field != field || e.RetryAfterSeconds < 1 {
		t.Fatalf("err = %v, want rate_limited on %s with Retry-After", err, field)
	}
}

func TestLimiterSubmissionsPerMinute(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC))
	l := dynamo.NewLimiter(k.DynamoDB, table, dynamo.Limits{SubmissionsPerMinute: 3}, clock.Now)
	for i := range 3 {
		if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 10}); err != nil {
			t.Fatalf("submission %d: %v", i+1, err)
		}
	}
	err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 10})
	limited(t, err, "submissions_per_minute")
	var e *jobs.Error
	errors.As(err, &e)
	if e.RetryAfterSeconds != 30 {
		t.Errorf("Retry-After = %d, want 30 (the rest of the minute)", e.RetryAfterSeconds)
	}
	if err := l.Allow(t.Context(), "bob", jobs.Cost{Jobs: 1}); err != nil {
		t.Errorf("bob is limited by alice's submissions: %v", err)
	}
	clock.Advance(30 * time.Second)
	if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1}); err != nil {
		t.Errorf("next minute still limited: %v", err)
	}
}

func TestLimiterTokensPerDayMovesNoCounterWhenRefused(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC))
	l := dynamo.NewLimiter(k.DynamoDB, table, dynamo.Limits{SubmissionsPerMinute: 2, TokensPerDay: 1000}, clock.Now)
	if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 600}); err != nil {
		t.Fatal(err)
	}
	err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 600})
	limited(t, err, "tokens_per_day")
	var e *jobs.Error
	errors.As(err, &e)
	if e.RetryAfterSeconds != 3600 {
		t.Errorf("Retry-After = %d, want 3600 (until 00:00 UTC)", e.RetryAfterSeconds)
	}
	// The refused submission did not count against the minute: one more
	// fits (2 per minute).
	if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 400}); err != nil {
		t.Errorf("a refused submission used up the minute's allowance: %v", err)
	}
	// A refund (an idempotent replay) gives the budget back.
	clock.Advance(time.Minute)
	l.Refund(t.Context(), "alice", jobs.Cost{Tokens: 600})
	if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 600}); err != nil {
		t.Errorf("refunded budget not available: %v", err)
	}
	// A new day starts from zero.
	clock.Advance(time.Hour)
	if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1, Tokens: 1000}); err != nil {
		t.Errorf("new day still limited: %v", err)
	}
}

func TestLimiterActiveJobsFollowsTheJobs(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	store := dynamo.New(k.DynamoDB, table, dynamo.Options{})
	l := dynamo.NewLimiter(k.DynamoDB, table, dynamo.Limits{ActiveJobs: 2}, nil)
	var ids []string
	for range 2 {
		j, _, err := store.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: "alice", Prompt: "p", Model: "m", MaxTokens: 1}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	limited(t, l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1}), "active_jobs")
	if err := l.Allow(t.Context(), "bob", jobs.Cost{Jobs: 2}); err != nil {
		t.Errorf("bob limited by alice's jobs: %v", err)
	}

	// Running still counts; finishing, cancelling free the slots.
	claimed, err := store.Claim(t.Context(), "alice", ids[0], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	limited(t, l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 1}), "active_jobs")
	if err := store.Finish(t.Context(), "alice", ids[0], claimed.Attempts, jobs.Progress{GeneratedText: "done"}); err != nil {
		t.Fatal(err)
	}
	if n, err := l.CountActive(t.Context(), "alice", 10); err != nil || n != 1 {
		t.Errorf("CountActive after finish = %d, %v; want 1", n, err)
	}
	if _, err := store.Cancel(t.Context(), "alice", ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := l.Allow(t.Context(), "alice", jobs.Cost{Jobs: 2}); err != nil {
		t.Errorf("slots not freed by finish and cancel: %v", err)
	}
}

// TestAbandonedJobFreesItsActiveSlot: AbandonEnqueue of a job with an
// idempotency key goes through a transaction, not apply; its job must
// leave the active index like any other terminal job.
func TestAbandonedJobFreesItsActiveSlot(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	store := dynamo.New(k.DynamoDB, table, dynamo.Options{})
	l := dynamo.NewLimiter(k.DynamoDB, table, dynamo.Limits{ActiveJobs: 1}, nil)
	for _, key := range []string{"", "k"} {
		j, _, err := store.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: "alice", Prompt: "p", Model: "m", MaxTokens: 1, IdempotencyKey: key}, "fp")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.AbandonEnqueue(t.Context(), "alice", j.ID, jobs.Failure{Code: jobs.FailureEnqueue, Message: "m"}); err != nil {
			t.Fatal(err)
		}
		if n, err := l.CountActive(t.Context(), "alice", 10); err != nil || n != 0 {
			t.Errorf("key %q: CountActive after abandon = %d, %v; want 0", key, n, err)
		}
	}
}

func TestLimiterRequestsPerSecondCountsEachUserApartInTenSecondWindows(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 11, 25, 10, 0, 3, 0, time.UTC))
	l := dynamo.NewLimiter(k.DynamoDB, table, dynamo.Limits{RequestsPerSecond: 2}, clock.Now)
	for i := range 20 {
		if err := l.AllowRequest(t.Context(), "alice"); err != nil {
			t.Fatalf("request %d of 20: %v", i+1, err)
		}
	}
	err := l.AllowRequest(t.Context(), "alice")
	limited(t, err, "requests_per_second")
	var e *jobs.Error
	errors.As(err, &e)
	if e.RetryAfterSeconds != 7 {
		t.Errorf("Retry-After = %d, want 7 (the rest of the 10-second window)", e.RetryAfterSeconds)
	}
	// A refused request is not counted, and bob has his own allowance.
	for i := range 20 {
		if err := l.AllowRequest(t.Context(), "bob"); err != nil {
			t.Fatalf("bob's request %d is limited by alice's: %v", i+1, err)
		}
	}
	clock.Advance(7 * time.Second)
	if err := l.AllowRequest(t.Context(), "alice"); err != nil {
		t.Errorf("the next window is still limited: %v", err)
	}
	off := dynamo.NewLimiter(k.DynamoDB, table, dynamo.Limits{}, clock.Now)
	for range 30 {
		if err := off.AllowRequest(t.Context(), "carol"); err != nil {
			t.Fatalf("no request limit configured, yet: %v", err)
		}
	}
}
