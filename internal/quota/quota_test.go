package quota

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

func TestSplitReservesTheInteractiveLane(t *testing.T) {
	t.Parallel()
	tests := []struct {
		concurrency int
		share       float64
		want        Lanes
	}{
		{10, 0.25, Lanes{Interactive: 3, Bulk: 7}},
		{8, 0.25, Lanes{Interactive: 2, Bulk: 6}},
		{4, 0.25, Lanes{Interactive: 2, Bulk: 2}},
		{4, 0.9, Lanes{Interactive: 2, Bulk: 2}}, // the bulk lane keeps its minimum
		{100, 0.25, Lanes{Interactive: 25, Bulk: 75}},
		{100, 0.01, Lanes{Interactive: 2, Bulk: 98}}, // the interactive lane keeps its minimum
		{2000, 0.5, Lanes{Interactive: 1000, Bulk: 1000}},
	}
	for _, tt := range tests {
		q := Quota{Concurrency: tt.concurrency, InteractiveShare: tt.share}
		if err := q.Validate(); err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		got := q.Split()
		if got != tt.want {
			t.Errorf("Split(%d, %v) = %+v, want %+v", tt.concurrency, tt.share, got, tt.want)
		}
		if got.Interactive+got.Bulk != tt.concurrency {
			t.Errorf("Split(%d, %v) = %+v does not add up", tt.concurrency, tt.share, got)
		}
		if got.Of(jobs.LaneInteractive) != got.Interactive || got.Of(jobs.LaneBulk) != got.Bulk || got.Of("") != got.Interactive {
			t.Errorf("Of disagrees with %+v", got)
		}
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default: %v", err)
	}
	for _, q := range []Quota{
		{Concurrency: 3, InteractiveShare: 0.25},
		{Concurrency: 2001, InteractiveShare: 0.25},
		{Concurrency: 10, InteractiveShare: 0},
		{Concurrency: 10, InteractiveShare: 1},
		{Concurrency: 10, InteractiveShare: 0.25, TokensPerMinute: -1},
	} {
		if q.Validate() == nil {
			t.Errorf("%+v: no error", q)
		}
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	b := NewBucket(60_000) // refills 900/s, holds 6,000, bulk leaves 3,000
	if b.Rate != 900 || b.Size != 6000 || b.Reserve != 3000 {
		t.Fatalf("NewBucket(60000) = %+v", b)
	}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	full := Level{}
	tests := []struct {
		name     string
		level    Level
		lane     jobs.Lane
		tokens   int
		wantLeft float64
		wantWait time.Duration
	}{
		{"a bucket never written is full", full, jobs.LaneBulk, 1000, 5000, 0},
		{"interactive may take it down to zero", Level{Tokens: 1000, At: t0}, jobs.LaneInteractive, 1000, 0, 0},
		{"bulk must leave the reserve", Level{Tokens: 3500, At: t0}, jobs.LaneBulk, 1000, 3500, 555555556 * time.Nanosecond},
		{"bulk above the reserve", Level{Tokens: 4000, At: t0}, jobs.LaneBulk, 1000, 3000, 0},
		{"the empty lane is interactive", Level{Tokens: 1000, At: t0}, "", 1000, 0, 0},
		{"a job larger than the bucket overdraws a full one", Level{Tokens: 6000, At: t0}, jobs.LaneBulk, 9000, -3000, 0},
		{"a job larger than the bucket waits for it to be full", Level{Tokens: 5100, At: t0}, jobs.LaneBulk, 9000, 5100, time.Second},
		{"a debt is paid back first", Level{Tokens: -900, At: t0}, jobs.LaneInteractive, 900, -900, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after, wait := b.Take(tt.level, tt.lane, tt.tokens, t0)
			if wait != tt.wantWait {
				t.Errorf("wait = %v, want %v", wait, tt.wantWait)
			}
			if after.Tokens != tt.wantLeft {
				t.Errorf("left = %v, want %v", after.Tokens, tt.wantLeft)
			}
		})
	}
}

func TestBucketRefillsAtItsRateUpToItsSize(t *testing.T) {
	t.Parallel()
	b := NewBucket(60_000)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	l := Level{Tokens: 0, At: t0}
	if got := b.Available(l, t0.Add(2*time.Second)); got != 1800 {
		t.Errorf("after 2 s: %v, want 1800", got)
	}
	if got := b.Available(l, t0.Add(time.Hour)); got != b.Size {
		t.Errorf("after an hour: %v, want the size %v", got, b.Size)
	}
	if got := b.Available(l, t0.Add(-time.Second)); got != 0 {
		t.Errorf("a clock behind the level's: %v, want 0", got)
	}
}

// An interactive job waiting with a bulk job for the same refill is
// admitted first: it needs fewer tokens in the bucket.
func TestInteractiveIsFirstAsTheBucketRefills(t *testing.T) {
	t.Parallel()
	b := NewBucket(60_000)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	empty := Level{Tokens: 0, At: t0}
	_, waitI := b.Take(empty, jobs.LaneInteractive, 2000, t0)
	_, waitB := b.Take(empty, jobs.LaneBulk, 500, t0)
	if waitI >= waitB {
		t.Errorf("interactive job of 2,000 waits %v, bulk job of 500 %v: want the interactive one first", waitI, waitB)
	}
}

// Over any minute a backlog drawing as fast as the bucket allows takes at
// most the quota, and at least 90% of it.
func TestBucketKeepsAMinuteWithinTheQuota(t *testing.T) {
	t.Parallel()
	const tpm = 60_000
	b := NewBucket(tpm)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var l Level
	taken := 0
	for now := t0; now.Before(t0.Add(time.Minute)); now = now.Add(10 * time.Millisecond) {
		for {
			next, wait := b.Take(l, jobs.LaneInteractive, 700, now)
			if wait > 0 {
				break
			}
			l, taken = next, taken+700
		}
	}
	if taken > tpm || taken < tpm*9/10 {
		t.Errorf("a minute took %d tokens, want 90%% to 100%% of %d", taken, tpm)
	}
}

func TestFairShare(t *testing.T) {
	t.Parallel()
	tests := []struct{ capacity, users, want int }{
		{7, 1, 7},
		{7, 0, 7},
		{7, 2, 4},
		{6, 2, 3},
		{6, 4, 2},
		{2, 5, 1},
	}
	for _, tt := range tests {
		if got := FairShare(tt.capacity, tt.users); got != tt.want {
			t.Errorf("FairShare(%d, %d) = %d, want %d", tt.capacity, tt.users, got, tt.want)
		}
	}
}
