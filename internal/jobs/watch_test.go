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
		{"interactive, never polled", Job{Lane: LaneInteractive, Status: StatusRunning}, false, time.Second},
		{"from before lanes", Job{Status: StatusRunning}, false, time.Second},
		{"bulk, never polled", Job{Lane: LaneBulk, Status: StatusRunning}, true, BulkFlushInterval},
		{"bulk, queued, never polled", Job{Lane: LaneBulk, Status: StatusQueued}, true, BulkFlushInterval},
		{"bulk, polled just now", Job{Lane: LaneBulk, Status: StatusRunning, WatchedUntil: now.Add(WatchFor)}, false, time.Second},
		{"bulk, mark running out", Job{Lane: LaneBulk, Status: StatusRunning, WatchedUntil: now.Add(WatchFor/2 - time.Second)}, true, time.Second},
		{"bulk, mark run out", Job{Lane: LaneBulk, Status: StatusRunning, WatchedUntil: now}, true, BulkFlushInterval},
		{"bulk, ended", Job{Lane: LaneBulk, Status: StatusSucceeded}, false, BulkFlushInterval},
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
