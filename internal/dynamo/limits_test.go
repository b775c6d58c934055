package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
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
		if err := l.Allow(t.Context(), "alice"); err != nil {
			t.Fatalf("submission %d: %v", i+1, err)
		}
	}
	err := l.Allow(t.Context(), "alice")
	limited(t, err, "submissions_per_minute")
	var e *jobs.Error
	errors.As(err, &e)
	if e.RetryAfterSeconds != 30 {
		t.Errorf("Retry-After = %d, want 30 (the rest of the minute)", e.RetryAfterSeconds)
	}
	if err := l.Allow(t.Context(), "bob"); err != nil {
		t.Errorf("bob is limited by alice's submissions: %v", err)
	}
	clock.Advance(30 * time.Second)
	if err := l.Allow(t.Context(), "alice"); err != nil {
		t.Errorf("next minute still limited: %v", err)
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
