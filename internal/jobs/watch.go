package jobs

import "time"

// Who watches a job decides how often its worker writes its text. A
// person in the web app watches every interactive job, so those are written
// about once a second. A bulk job is usually read only when it has ended
// (a script reads listings), so its worker writes its text at most every
// BulkFlushInterval, unless its owner is polling that very job: each GET
// /jobs/{id} marks the job watched for WatchFor, and while it is, the
// worker writes as often as for an interactive job.
const (
	// WatchFor is how long one poll of a job counts as someone watching it.
	WatchFor = time.Minute
	// BulkFlushInterval is the longest an unwatched bulk job's worker
	// keeps new text unwritten (a heartbeat may write sooner).
	BulkFlushInterval = 30 * time.Second
	// PollQueued is how soon a poller of a queued job is told to look
	// again (GET /jobs/{id}'s Retry-After) unless the job's message comes
	// back later (Job.SentAt, when a worker put the job off).
	PollQueued = 2 * time.Second
)

// NeedsWatchMark reports whether a poll of j at now should mark it
// watched: a bulk job not yet ended whose mark runs out within half of
// WatchFor. Marking only then keeps a job polled every second to one
// write every half minute.
func (j Job) NeedsWatchMark(now time.Time) bool {
	return j.Lane.OrDefault() == LaneBulk && !j.Status.Terminal() && j.WatchedUntil.Before(now.Add(WatchFor/2))
}

// FlushEvery is how long the worker may keep new text of j unwritten at
// now: its flush interval for an interactive job or a watched one,
// BulkFlushInterval for a bulk job nobody polls.
func (j Job) FlushEvery(now time.Time, flush time.Duration) time.Duration {
	if j.Lane.OrDefault() == LaneBulk && !now.Before(j.WatchedUntil) {
		return max(flush, BulkFlushInterval)
	}
	return flush
}
