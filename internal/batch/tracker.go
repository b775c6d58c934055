package batch

import (
	"sync"

	"github.com/promptq/promptq/internal/jobs"
)

// tracker holds what is known about every line, and the counts the
// progress display shows. It is safe for concurrent use.
type tracker struct {
	mu     sync.Mutex
	recs   map[int]Record
	counts Counts
}

// Counts are the run's totals, kept up to date as records change.
type Counts struct {
	Lines     int // non-blank input lines
	Invalid   int // refused before sending (bad JSON, a missing prompt...)
	Rejected  int // refused by the API
	Submitted int // lines that have a job
	Replayed  int // of them, jobs that existed already (a retry or an earlier run)
	Queued    int
	Running   int
	Succeeded int
	Failed    int
	Cancelled int
	// Unsent lines got no final answer from the API this run (it kept
	// failing, or the run stopped first); a re-run sends them.
	Unsent       int
	InputTokens  int
	OutputTokens int
}

func newTracker(lines []Line, known map[int]Record) *tracker {
	t := &tracker{recs: map[int]Record{}}
	t.counts.Lines = len(lines)
	for _, l := range lines {
		if l.Err != nil {
			t.counts.Invalid++
			continue
		}
		if r, ok := known[l.N]; ok {
			t.add(r, 1)
			t.recs[l.N] = r
		} else {
			t.counts.Unsent++
		}
	}
	return t
}

// set records what is now known about a line.
func (t *tracker) set(r Record, replayed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.recs[r.Line]; ok {
		t.add(old, -1)
	} else {
		t.counts.Unsent--
	}
	t.add(r, 1)
	if replayed {
		t.counts.Replayed++
	}
	t.recs[r.Line] = r
}

func (t *tracker) add(r Record, d int) {
	c := &t.counts
	if r.Status == statusRejected {
		c.Rejected += d
		return
	}
	c.Submitted += d
	switch jobs.Status(r.Status) {
	case jobs.StatusQueued:
		c.Queued += d
	case jobs.StatusRunning:
		c.Running += d
	case jobs.StatusSucceeded:
		c.Succeeded += d
	case jobs.StatusFailed, statusMissing:
		c.Failed += d
	case jobs.StatusCancelled:
		c.Cancelled += d
	}
	if r.Tokens != nil {
		c.InputTokens += d * r.Tokens.Input
		c.OutputTokens += d * r.Tokens.Output
	}
}

func (t *tracker) get(line int) (Record, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.recs[line]
	return r, ok
}

func (t *tracker) snapshot() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}
