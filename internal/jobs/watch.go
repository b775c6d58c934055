package jobs

import "time"

// Who watches a job decides how often its worker writes its text: a
// job's words are written about every WatchedFlushInterval while someone
// polls that job, and at most every UnwatchedFlushInterval while nobody
// does (a script reads a job when it has ended, from a listing or one GET),
// whatever its lane. Each GET /jobs/{id} marks the job watched for
// WatchFor. A job on the interactive lane also counts as watched for its
// first InteractiveWatchedAtStart: a person who submits in the web app
// polls it at once, but the worker may claim it a moment before that poll.
//
// A worker writes a watched job's text on a cadence and records when its
// next write is due (Job.TextDueAt); GET /jobs/{id} passes that on, so a
// poller can ask just after the write, in step with it, instead of at a
// pace of its own that misses it by up to a whole interval.
const (
	// WatchFor is how long one poll of a job counts as someone watching it.
	WatchFor = time.Minute
	// WatchedFlushInterval is how often a worker writes the text of a job
	// someone watches, the worker's default (PROMPTQ_FLUSH_INTERVAL). With
	// polls in step with the writes, a word is shown on average about half
	// of it after the model wrote it (docs/benchmarks.md).
	WatchedFlushInterval = 1500 * time.Millisecond
	// UnwatchedFlushInterval is the longest a worker keeps new text of a
	// job nobody polls unwritten (a heartbeat may write sooner).
	UnwatchedFlushInterval = 30 * time.Second
	// InteractiveWatchedAtStart is how long an interactive job counts as
	// watched from its creation, before any poll has marked it.
	InteractiveWatchedAtStart = 10 * time.Second
	// PollQueued is how soon a poller of a queued job is told to look
	// again (GET /jobs/{id}'s Retry-After) unless the job's message comes
	// back later (Job.SentAt, when a worker put the job off).
	PollQueued = 2 * time.Second
)

// NeedsWatchMark reports whether a poll of j at now should mark it
// watched: a job not yet ended whose mark runs out within half of
// WatchFor. Marking only then keeps a job polled every second to one
// write every half minute, and a web-app job to about one in its life.
func (j Job) NeedsWatchMark(now time.Time) bool {
	return !j.Status.Terminal() && j.WatchedUntil.Before(now.Add(WatchFor/2))
}

// Watched reports whether someone counts as watching j at now: a poll's
// mark that has not run out, or an interactive job's first moments.
func (j Job) Watched(now time.Time) bool {
	if now.Before(j.WatchedUntil) {
		return true
	}
	return j.Lane.OrDefault() == LaneInteractive && !j.CreatedAt.IsZero() && now.Before(j.CreatedAt.Add(InteractiveWatchedAtStart))
}

// TextDueHintMax is the furthest ahead a running job's next write is
// worth telling a poller of (Job.TextDueIn): the web app asks at least
// every 3 s anyway.
const TextDueHintMax = 3 * time.Second

// TextDueIn is how long until j's worker is due to write its text next,
// and whether that is worth a poller's waiting for: a running job whose
// next write is at most TextDueHintMax away. A write already past due (the
// worker found nothing new) or far off (nobody watched it until now; the
// worker will see this poll's mark within seconds) is no hint.
func (j Job) TextDueIn(now time.Time) (time.Duration, bool) {
	d := j.TextDueAt.Sub(now)
	return d, j.Status == StatusRunning && d > 0 && d <= TextDueHintMax
}

// FlushEvery is how long the worker may keep new text of j unwritten at
// now: its flush interval while someone watches j, UnwatchedFlushInterval
// while nobody does.
func (j Job) FlushEvery(now time.Time, flush time.Duration) time.Duration {
	if j.Watched(now) {
		return flush
	}
	return max(flush, UnwatchedFlushInterval)
}
