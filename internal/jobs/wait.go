package jobs

import "time"

// WaitReason is why a queued job waits: what put it off the last time a
// worker gave it back (Wait).
type WaitReason string

// The reasons a worker gives a job back to wait.
const (
	// WaitRetry: a try failed for a reason worth trying again (an outage,
	// a timeout, a stream that broke off); the next try comes after a
	// backoff, and the job fails when a message has had all its tries.
	WaitRetry WaitReason = "retry"
	// WaitFairShare: its owner already runs their fair share of the
	// lane's jobs at once; it starts as theirs end.
	WaitFairShare WaitReason = "fair_share"
	// WaitPace: the model's tokens-per-minute pace has no room for it yet.
	WaitPace WaitReason = "pace"
	// WaitThrottled: the model refused the call for its quota; not a
	// failed try.
	WaitThrottled WaitReason = "throttled"
	// WaitBusy: every call the model allows at once (its seats) was in
	// use, by this lane's jobs or by people's jobs; it starts as one ends.
	WaitBusy WaitReason = "busy"
	// WaitContinuing: the worker's time ran out while the answer was being
	// written; the answer so far is kept, and goes on in another
	// invocation.
	WaitContinuing WaitReason = "continuing"
)

// Wait is why a job a worker gives back waits, and for how long: its
// message comes back After from the write that records it (the store
// makes that the job's SentAt, in the same write: Store.Release and
// Store.SentBack). A retry also says which try failed (Try, the message's
// receive), of how many a message gets before the job fails (Tries), and
// what failed (Error, in words a person can read).
//
// A store keeps it on the job until a worker claims the job again (or an
// operator or the rescuer queues it again): Job.Waiting, whose After is
// then zero and whose end is the job's SentAt.
type Wait struct {
	Reason WaitReason
	After  time.Duration
	Try    int
	Tries  int
	Error  string
}

// Kept is w as a store keeps it on the job: without After, which the
// job's SentAt says; nil for no reason.
func (w Wait) Kept() *Wait {
	if w.Reason == "" {
		return nil
	}
	w.After = 0
	return &w
}
