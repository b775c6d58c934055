package jobs

import (
	"slices"
	"time"
)

// Transition names one change of a job's state that a store makes as a
// single conditional write. Rules gives, for each, which states allow it
// and the status it leads to; both stores (internal/dynamo builds its
// condition expressions from it, internal/dev/inmem checks it under its
// lock) read that one table, and internal/dev/storetest holds them to it.
type Transition string

// The transitions, in the order of a job's life. Create is not among them:
// it writes a new item (with its idempotency record) rather than changing
// one.
const (
	AbandonEnqueue Transition = "abandon_enqueue"
	SwapSentAt     Transition = "swap_sent_at"
	Claim          Transition = "claim"
	SaveProgress   Transition = "save_progress"
	Release        Transition = "release"
	Finish         Transition = "finish"
	Fail           Transition = "fail"
	Cancel         Transition = "cancel"
	Requeue        Transition = "requeue"
	MarkFailed     Transition = "mark_failed"
	Reroute        Transition = "reroute"
	SettleRun      Transition = "settle_run"
)

// A Rule is what a transition allows and where it leads. A job may take
// the transition when its status is one of From, or (Lapsed) it is running
// under a lease that has passed, or (Held) it is running at the attempt
// the caller claimed. A store may add a condition of its own (SwapSentAt's
// old sent_at, Claim's text length) but never widen these.
type Rule struct {
	From   []Status
	Lapsed bool
	Held   bool
	// To is the status after; empty keeps the job's.
	To Status
	// KeepsRunBudget: a job that takes the transition while it is in an
	// economy run (Job.InRun) keeps its budget held instead of settling
	// it, since Bedrock may still process, and bill, its record;
	// SettleRun settles it once its run has ended, with what the run
	// processed for it charged.
	KeepsRunBudget bool
	// By says who calls it, for readers of the table.
	By string
}

// Rules is the table of every transition. The lifecycle diagram in the
// package documentation draws it.
var Rules = map[Transition]Rule{
	AbandonEnqueue: {From: []Status{StatusQueued}, To: StatusFailed,
		By: "API, when sending the job's message failed (enqueue_failed)"},
	SwapSentAt: {From: []Status{StatusQueued},
		By: "API, when a retried submission sends its job's message again"},
	Claim: {From: []Status{StatusQueued}, Lapsed: true, To: StatusRunning,
		By: "worker"},
	SaveProgress: {Held: true,
		By: "worker (text, token counts, lease)"},
	Release: {Held: true, To: StatusQueued,
		By: "worker (deadline, transient error, fair-share wait)"},
	Finish: {Held: true, To: StatusSucceeded,
		By: "worker"},
	Fail: {Held: true, To: StatusFailed,
		By: "worker (model error, last receive); rescuer (retries exhausted)"},
	Cancel: {From: []Status{StatusQueued, StatusRunning}, To: StatusCancelled, KeepsRunBudget: true,
		By: "API (POST /jobs/{id}/cancel)"},
	Requeue: {From: []Status{StatusFailed, StatusQueued}, Lapsed: true, To: StatusQueued,
		By: "DLQ tool (replay); rescuer"},
	MarkFailed: {From: []Status{StatusQueued, StatusFailed}, Lapsed: true, To: StatusFailed,
		By: "DLQ tool (purge)"},
	// Reroute moves an economy job to an on-demand lane: a waiting one
	// (queued), or one its run claimed (held), which is queued again.
	Reroute: {From: []Status{StatusQueued}, Held: true, To: StatusQueued,
		By: "economy collector (too few jobs or too large for a run), completion (a record Bedrock failed, with economy_fallback; a run that failed)"},
	// SettleRun settles a job cancelled inside its economy run once the
	// run has ended (the store fences it by the run and the attempt its
	// claim made): what the run processed for it is charged first.
	SettleRun: {From: []Status{StatusCancelled}, To: StatusCancelled,
		By: "economy completion (a job cancelled inside its run, once the run ended)"},
}

// Settles reports whether j taking a transition under r settles its
// budget in the same write: r ends the job, the job is counted and not
// settled yet, and it is not a job in an economy run that r leaves
// holding its budget (KeepsRunBudget). Both stores decide by it.
func (r Rule) Settles(j Job) bool {
	return r.To.Terminal() && j.Budget.Counted() && !j.Budget.Settled && !(r.KeepsRunBudget && j.InRun())
}

// Allows reports whether j may take the transition at now, for a caller
// holding attempt (Held rules only). A lease counts as lapsed at the
// millisecond precision the DynamoDB store keeps it.
func (r Rule) Allows(j Job, now time.Time, attempt int) bool {
	switch {
	case slices.Contains(r.From, j.Status):
		return true
	case r.Lapsed && j.Status == StatusRunning && j.LeaseUntil.UnixMilli() < now.UnixMilli():
		return true
	case r.Held && j.Status == StatusRunning && j.Attempts == attempt:
		return true
	}
	return false
}
