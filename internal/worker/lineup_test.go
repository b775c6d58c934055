package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// share is n jobs over capacity at once, each taking run.
func share(n, capacity float64, run time.Duration) time.Duration {
	return time.Duration(n / capacity * float64(run))
}

func TestLineupWaitsAboutAsLongAsTheLaneNeedsToGetToTheJob(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		runs     []time.Duration // jobs of the lane that ran before
		sentBack int             // the owner's jobs sent back before, at t0
		after    time.Duration   // how long after them this one is
		capacity int
		want     time.Duration
	}{
		{"the first job sent back waits the least", nil, 0, 0, 7, fairRetryMin},
		// 14 + 1 jobs over 7 at once, 5 s a job (the default run time).
		{"a backlog waits its turn", nil, 14, 0, 7, share(15, 7, defaultRunTime)},
		{"at the lane's own run time", []time.Duration{2 * time.Second, 4 * time.Second}, 20, 0, 7, share(21, 7, 3*time.Second)},
		{"a backlog of thousands waits the most", nil, 2000, 0, 7, fairRetryMax},
		// Jobs of milliseconds count as minRunTime: 70 + 1 over 7 at once
		// wait 10 s, not the least, so they come back 7 a second.
		{"short jobs count a second", []time.Duration{3 * time.Millisecond}, 70, 0, 7, share(71, 7, minRunTime)},
		// 20 sent back two half-lives ago count 5 now.
		{"what was sent back long ago fades", nil, 20, 2 * lineupHalfLife, 2, share(6, 2, defaultRunTime)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLineup()
			for _, d := range tc.runs {
				l.ran(jobs.LaneBulk, d)
			}
			for i := range tc.sentBack {
				l.sentBack(jobs.LaneBulk, "alice", fmt.Sprint("a", i), tc.capacity, -1, t0)
			}
			got := l.sentBack(jobs.LaneBulk, "alice", "this", tc.capacity, -1, t0.Add(tc.after))
			if diff := got - tc.want; diff < -time.Millisecond || diff > time.Millisecond {
				t.Errorf("wait %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLineupKeepsOwnersAndLanesApart(t *testing.T) {
	t.Parallel()
	now := time.Now()
	l := newLineup()
	for i := range 100 {
		l.sentBack(jobs.LaneBulk, "alice", fmt.Sprint("a", i), 7, -1, now)
	}
	if got := l.sentBack(jobs.LaneBulk, "bob", "b0", 7, -1, now); got != fairRetryMin {
		t.Errorf("bob's first job waits %v behind alice's backlog, want %v", got, fairRetryMin)
	}
	if got := l.sentBack(jobs.LaneInteractive, "alice", "i0", 7, -1, now); got != fairRetryMin {
		t.Errorf("alice's first interactive job waits %v behind her bulk backlog, want %v", got, fairRetryMin)
	}
}

func TestLineupWaitsNoLongerThanTheLaneNeedsForAllItsQueue(t *testing.T) {
	t.Parallel()
	now := time.Now()
	l := newLineup()
	for i := range 2000 {
		l.sentBack(jobs.LaneBulk, "alice", fmt.Sprint("a", i), 7, -1, now)
	}
	if got, want := l.sentBack(jobs.LaneBulk, "alice", "last", 7, 28, now), share(28, 7, defaultRunTime); got != want {
		t.Errorf("with 28 jobs queued in the lane: wait %v, want %v", got, want)
	}
}

func TestLineupCountsAJobSentBackAgainOnce(t *testing.T) {
	t.Parallel()
	now := time.Now()
	l := newLineup()
	var first, again [14]time.Duration
	for i := range 14 {
		first[i] = l.sentBack(jobs.LaneBulk, "alice", fmt.Sprint("a", i), 7, -1, now)
	}
	for i := range 14 {
		again[i] = l.sentBack(jobs.LaneBulk, "alice", fmt.Sprint("a", i), 7, -1, now)
	}
	if want := share(14, 7, defaultRunTime); first[13] != want || again[13] != want {
		t.Errorf("the 14th of 14 jobs waits %v, and %v when all are sent back again; want %v both times", first[13], again[13], want)
	}
	// Each keeps its place in the line: the first, back too early, still
	// waits the least, not behind the other 13.
	if want := max(share(1, 7, defaultRunTime), fairRetryMin); again[0] != want {
		t.Errorf("the first job sent back again waits %v, want %v, as the first time", again[0], want)
	}
}

func TestLineupForgetsJobsLongGone(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	l := newLineup()
	for i := range lineupMaxJobs {
		l.sentBack(jobs.LaneBulk, fmt.Sprint("user", i%100), fmt.Sprint("j", i), 7, -1, t0)
	}
	l.sentBack(jobs.LaneBulk, "bob", "b0", 7, -1, t0.Add(lineupForget+time.Second))
	if l.remembered != 1 || len(l.sent) != 1 {
		t.Errorf("after forgetting: %d jobs of %d owners remembered, want bob's one", l.remembered, len(l.sent))
	}
}

func TestLineupRunTimeFollowsTheLane(t *testing.T) {
	t.Parallel()
	l := newLineup()
	for range 10 {
		l.ran(jobs.LaneBulk, 10*time.Second)
	}
	for range 30 {
		l.ran(jobs.LaneBulk, time.Second)
	}
	if m := l.run[jobs.LaneBulk].mean; m > 1100*time.Millisecond {
		t.Errorf("after 30 jobs of 1 s the mean is %v", m)
	}
}
