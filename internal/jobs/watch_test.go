package jobs

import (
	"testing"
	"time"
)

func TestWatching(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		job        Job
		mark       bool
		flushEvery time.Duration
	}{
		{"bulk, never polled", Job{Lane: LaneBulk, Status: StatusRunning, CreatedAt: now}, true, UnwatchedFlushInterval},
		{"bulk, queued, never polled", Job{Lane: LaneBulk, Status: StatusQueued}, true, UnwatchedFlushInterval},
		{"bulk, polled just now", Job{Lane: LaneBulk, Status: StatusRunning, WatchedUntil: now.Add(WatchFor)}, false, time.Second},
		{"bulk, mark running out", Job{Lane: LaneBulk, Status: StatusRunning, WatchedUntil: now.Add(WatchFor/2 - time.Second)}, true, time.Second},
		{"bulk, mark run out", Job{Lane: LaneBulk, Status: StatusRunning, WatchedUntil: now}, true, UnwatchedFlushInterval},
		{"bulk, ended", Job{Lane: LaneBulk, Status: StatusSucceeded}, false, UnwatchedFlushInterval},
		// An interactive job is watched at its start, then as any other.
		{"interactive, just created", Job{Lane: LaneInteractive, Status: StatusRunning, CreatedAt: now.Add(-time.Second)}, true, time.Second},
		{"from before lanes, just created", Job{Status: StatusRunning, CreatedAt: now.Add(-time.Second)}, true, time.Second},
		{"interactive, start past, never polled", Job{Lane: LaneInteractive, Status: StatusRunning, CreatedAt: now.Add(-InteractiveWatchedAtStart)}, true, UnwatchedFlushInterval},
		{"interactive, polled just now", Job{Lane: LaneInteractive, Status: StatusRunning, CreatedAt: now.Add(-time.Hour), WatchedUntil: now.Add(WatchFor)}, false, time.Second},
		{"interactive, queued, polled", Job{Lane: LaneInteractive, Status: StatusQueued, CreatedAt: now.Add(-time.Hour), WatchedUntil: now.Add(WatchFor / 2)}, false, time.Second},
		{"interactive, ended", Job{Lane: LaneInteractive, Status: StatusSucceeded, CreatedAt: now.Add(-time.Hour)}, false, UnwatchedFlushInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.job.NeedsWatchMark(now); got != tt.mark {
				t.Errorf("NeedsWatchMark = %v, want %v", got, tt.mark)
			}
			if got := tt.job.FlushEvery(now, time.Second); got != tt.flushEvery {
				t.Errorf("FlushEvery = %v, want %v", got, tt.flushEvery)
			}
		})
	}
}
