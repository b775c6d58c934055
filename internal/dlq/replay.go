package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Summary counts what replay or purge did, or with DryRun would do.
type Summary struct {
	DryRun bool `json:"dry_run"`
	Bulk   bool `json:"bulk,omitempty"` // replay used SQS's own move task
	// Matched is how many messages the filter selected.
	Matched int `json:"matched"`
	// Replayed: jobs set back to queued whose messages went to the jobs
	// queue.
	Replayed int `json:"replayed"`
	// Removed: messages of jobs that had already succeeded or been
	// cancelled, deleted without replay (nothing was left to do).
	Removed int `json:"removed"`
	// Skipped: messages that cannot be replayed (their job is missing, or
	// the body is not a job message), left in the queue for purge.
	Skipped int `json:"skipped"`
	// Purged: messages deleted by purge, their jobs failed for good
	// unless they had ended or are counted in LeftRunning.
	Purged int `json:"purged"`
	// LeftRunning: of the purged messages, those whose job a worker was
	// running under a live lease (after an interrupted replay). The job
	// was left to finish; only its dead letter, a stale copy, was deleted.
	LeftRunning int `json:"left_running"`
	// Jobs says, for purge, what became of each purged message's job.
	Jobs []PurgedJob `json:"jobs,omitempty"`
}

// What purge did to a purged message's job (PurgedJob.Outcome).
const (
	// OutcomeFailed: the job was failed for good (jobs.FailurePurged).
	OutcomeFailed = "failed"
	// OutcomeLeftRunning: a worker is running the job under a live lease;
	// it was left to finish.
	OutcomeLeftRunning = "left_running"
	// OutcomeUntouched: the job had already ended, or there is none.
	OutcomeUntouched = "untouched"
)

// PurgedJob is one purged message and what became of its job.
type PurgedJob struct {
	MessageID string `json:"message_id"`
	JobID     string `json:"job_id,omitempty"`
	Owner     string `json:"owner,omitempty"`
	Outcome   string `json:"outcome"`
	// Attempt and LeaseUntil are the running attempt's, for
	// OutcomeLeftRunning.
	Attempt    int        `json:"attempt,omitempty"`
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
}

// Acted reports whether anything was (or would be) changed.
func (s Summary) Acted() bool { return s.Replayed+s.Removed+s.Purged > 0 }

// ReplayOptions select what Replay moves.
type ReplayOptions struct {
	Filter Filter
	DryRun bool // report what would happen, change nothing
	// Bulk asks for SQS's own move task (StartMessageMoveTask) instead of
	// moving messages one by one. It needs an empty Filter; where the
	// endpoint lacks move tasks, or the queue is not quiet, Replay goes
	// message by message instead.
	Bulk bool
}

// ErrBulkWithFilter: a bulk move takes every message, so it cannot honour
// a filter.
var ErrBulkWithFilter = errors.New("--bulk moves every message: it cannot be combined with --job, --older-than, --reason or --max")

// Replay sets the selected messages' jobs back to queued and moves the
// messages to the jobs queue.
//
// One message at a time, while it is hidden from everyone else for
// HoldVisibility: the job is requeued (so its owner sees it queued), the
// message is sent to the jobs queue, and only then deleted from the
// dead-letter queue. Interrupted between send and delete, the message is
// in both queues: the worker's claim runs the job once, and a later replay
// finds the job ended and deletes the stale copy. Interrupted between
// requeue and send, the job shows queued while its message waits in the
// dead-letter queue for the next replay. Nothing is lost either way.
//
// Messages of jobs that already succeeded or were cancelled are deleted
// (Removed); messages that cannot be replayed (no such job, not a job
// message) are left for purge (Skipped).
func (t *Tool) Replay(ctx context.Context, o ReplayOptions) (Summary, error) {
	if o.Bulk {
		if !o.Filter.Empty() || o.Filter.Max > 0 {
			return Summary{}, ErrBulkWithFilter
		}
		return t.replayBulk(ctx, o)
	}
	return t.replayEach(ctx, o)
}

// selected walks the dead-letter queue and calls act for every message
// the filter selects, with its job read; only restricts it further to
// those message ids when not nil.
func (t *Tool) selected(ctx context.Context, f Filter, visibility time.Duration, only map[string]bool, s *Summary, act func(ctx context.Context, e Entry) (bool, error)) error {
	now := t.cfg.Now()
	cheap := f
	cheap.Reason = "" // the rest needs no read
	return t.walk(ctx, visibility, func(ctx context.Context, d sqsqueue.DeadLetter) (bool, error) {
		if f.Max > 0 && s.Matched >= f.Max {
			return false, errStop
		}
		if only != nil && !only[d.MessageID] {
			return false, nil
		}
		e := t.entry(d)
		if !cheap.Match(e, now) {
			return false, nil
		}
		if err := t.describe(ctx, &e); err != nil {
			return false, fmt.Errorf("job %s: %w", e.JobID, err)
		}
		if !f.Match(e, now) {
			return false, nil
		}
		s.Matched++
		return act(ctx, e)
	})
}

func (t *Tool) replayEach(ctx context.Context, o ReplayOptions) (Summary, error) {
	s := Summary{DryRun: o.DryRun}
	visibility := t.cfg.HoldVisibility
	if o.DryRun {
		visibility = t.cfg.PeekVisibility
	}
	err := t.selected(ctx, o.Filter, visibility, nil, &s, func(ctx context.Context, e Entry) (bool, error) {
		return t.replayOne(ctx, e, o.DryRun, &s)
	})
	t.log.Info("replay finished", "dry_run", s.DryRun, "matched", s.Matched, "replayed", s.Replayed,
		"removed", s.Removed, "skipped", s.Skipped, "error", errString(err))
	return s, err
}

func (t *Tool) entryLog(e Entry) *slog.Logger {
	return t.log.With("job_id", e.JobID, "user", e.Owner, "message_id", e.MessageID)
}

// replayOne replays one selected message and reports whether it deleted
// it from the dead-letter queue.
func (t *Tool) replayOne(ctx context.Context, e Entry, dry bool, s *Summary) (bool, error) {
	log := t.entryLog(e)
	out := t.cfg.Out
	switch e.Status {
	case StatusInvalidMessage, StatusMissing:
		s.Skipped++
		fmt.Fprintf(out, "skip    %s: cannot be replayed (%s); purge removes it\n", label(e), e.Reason)
		log.Warn("message cannot be replayed; left in the dead-letter queue", "status", e.Status, "reason", e.Reason)
		return false, nil
	case string(jobs.StatusSucceeded), string(jobs.StatusCancelled):
		if dry {
			s.Removed++
			fmt.Fprintf(out, "would remove %s: job already %s\n", label(e), e.Status)
			return false, nil
		}
		return t.removeStale(ctx, log, e.letter, e.Status, s)
	}
	if dry {
		s.Replayed++
		fmt.Fprintf(out, "would replay %s (status %s, age %s, %s)\n", label(e), e.Status,
			age(time.Duration(e.AgeSeconds)*time.Second), orNone(e.Reason))
		return false, nil
	}

	job, err := t.cfg.Store.Requeue(ctx, e.Owner, e.JobID)
	if err != nil {
		if !errors.Is(err, jobs.ErrConflict) {
			return false, err
		}
		cur, gerr := t.cfg.Store.Get(ctx, e.Owner, e.JobID)
		if gerr != nil {
			return false, fmt.Errorf("job %s: %w", e.JobID, gerr)
		}
		if cur.Status == jobs.StatusSucceeded || cur.Status == jobs.StatusCancelled {
			return t.removeStale(ctx, log, e.letter, string(cur.Status), s)
		}
		// Running under a live lease: a copy of the message is being
		// worked on. Moving this one back costs nothing: the worker finds
		// the job running or ended and runs it no second time.
		log.Info("job is running elsewhere; moving its message back anyway", "status", cur.Status)
		job = cur
	} else {
		log.Info("job set back to queued")
	}
	// To its own lane's queue, with what the worker checks its share and
	// pace with.
	if err := t.cfg.Queue.Send(ctx, job.Message()); err != nil {
		return false, fmt.Errorf("job %s is queued again but its message could not be sent; it stays in the dead-letter queue for the next replay: %w", e.JobID, err)
	}
	log.Info("message sent to the jobs queue", "lane", job.Lane)
	if err := t.cfg.DeadLetters.Delete(ctx, e.letter.ReceiptHandle); err != nil {
		return false, fmt.Errorf("job %s is back in the jobs queue, but its dead letter could not be deleted (the next replay removes the copy once the job has run): %w", e.JobID, err)
	}
	s.Replayed++
	log.Info("dead letter deleted: replayed")
	fmt.Fprintf(out, "replayed %s\n", label(e))
	return true, nil
}

// removeStale deletes the dead letter of a job that has ended.
func (t *Tool) removeStale(ctx context.Context, log *slog.Logger, l sqsqueue.DeadLetter, status string, s *Summary) (bool, error) {
	if err := t.cfg.DeadLetters.Delete(ctx, l.ReceiptHandle); err != nil {
		return false, err
	}
	s.Removed++
	log.Info("dead letter deleted without replay: its job already ended", "status", status)
	fmt.Fprintf(t.cfg.Out, "removed message %s: job already %s\n", l.MessageID, status)
	return true, nil
}

// replayBulk requeues every job listed in the dead-letter queue, then has
// SQS move all its messages back to the lanes' queues they came from
// (StartMessageMoveTask without a destination), and waits for the move to
// end.
//
// The jobs are requeued first, from a listing, because a moved message
// whose job is still failed would be dropped by the worker as finished.
// So the listing must be complete: when it saw fewer messages than SQS
// counts (another operator holds some, or messages are arriving), or the
// endpoint has no move tasks, this falls back to the message-by-message
// replay, which is always safe.
func (t *Tool) replayBulk(ctx context.Context, o ReplayOptions) (Summary, error) {
	fallback := func(why string, args ...any) (Summary, error) {
		t.log.Info("bulk move not possible; replaying message by message instead", append([]any{"why", why}, args...)...)
		fmt.Fprintf(t.cfg.Out, "bulk move not possible (%s); replaying message by message\n", why)
		return t.replayEach(ctx, o)
	}
	if t.cfg.Redriver == nil {
		return fallback("no move task support configured")
	}
	tasks, err := t.cfg.Redriver.RedriveTasks(ctx)
	if errors.Is(err, sqsqueue.ErrRedriveUnsupported) {
		return fallback("the SQS endpoint has no message move tasks", "error", err)
	}
	if err != nil {
		return Summary{}, err
	}
	var before time.Time // the newest earlier task's start, to tell ours from it
	for _, task := range tasks {
		if task.StartedAt.After(before) {
			before = task.StartedAt
		}
		if task.Running() {
			return Summary{}, fmt.Errorf("a move task on the dead-letter queue is already %s (started %s, %d of %d moved); wait for it to end",
				task.Status, task.StartedAt.Format(time.RFC3339), task.Moved, task.ToMove)
		}
	}
	depth, err := t.cfg.DeadLetters.Depth(ctx)
	if err != nil {
		return Summary{}, err
	}
	var entries []Entry
	err = t.walk(ctx, t.cfg.PeekVisibility, func(ctx context.Context, d sqsqueue.DeadLetter) (bool, error) {
		entries = append(entries, t.entry(d))
		return false, nil
	})
	if err != nil {
		return Summary{}, err
	}
	if total := depth.Visible + depth.InFlight; len(entries) < total {
		return fallback("the listing saw fewer messages than the queue holds", "listed", len(entries), "queue_holds", total)
	}
	s := Summary{DryRun: o.DryRun, Bulk: true, Matched: len(entries)}
	if len(entries) == 0 {
		return s, nil
	}
	var requeue []Entry
	for i := range entries {
		e := &entries[i]
		if err := t.describe(ctx, e); err != nil {
			return s, fmt.Errorf("job %s: %w", e.JobID, err)
		}
		switch e.Status {
		case StatusInvalidMessage, StatusMissing:
			// They move too, and come back after maxReceiveCount quick
			// receives, as any message the worker cannot use.
			s.Skipped++
		case string(jobs.StatusSucceeded), string(jobs.StatusCancelled):
			s.Removed++ // the worker drops them as finished
		default:
			requeue = append(requeue, *e)
		}
	}
	if len(requeue) == 0 && s.Removed == 0 {
		// Only messages that cannot run: moving them would just bring
		// them back here.
		fmt.Fprintf(t.cfg.Out, "nothing to move: %d messages cannot be replayed; purge removes them\n", s.Skipped)
		return s, nil
	}
	if o.DryRun {
		s.Replayed = len(requeue)
		for _, e := range requeue {
			fmt.Fprintf(t.cfg.Out, "would requeue %s (status %s)\n", label(e), e.Status)
		}
		fmt.Fprintf(t.cfg.Out, "would then move all %d messages back to the queues they came from with a message move task\n", len(entries))
		return s, nil
	}
	for _, e := range requeue {
		_, err := t.cfg.Store.Requeue(ctx, e.Owner, e.JobID)
		switch {
		case errors.Is(err, jobs.ErrConflict):
			// Running or ended since the listing; the worker copes.
			t.entryLog(e).Info("job not requeued: it changed since the listing", "error", err)
		case err != nil:
			return s, fmt.Errorf("nothing was moved; requeued jobs wait in queued state for the next replay: %w", err)
		default:
			s.Replayed++
			t.entryLog(e).Info("job set back to queued")
		}
	}
	started := t.cfg.Now()
	handle, err := t.cfg.Redriver.StartRedrive(ctx)
	if err != nil {
		return s, fmt.Errorf("requeued %d jobs, but the move could not start (run replay again): %w", s.Replayed, err)
	}
	t.log.Info("message move task started", "task", handle, "messages", len(entries))
	for {
		select {
		case <-ctx.Done():
			t.log.Warn("stopped waiting; the move task goes on in SQS", "task", handle)
			return s, ctx.Err()
		case <-time.After(t.cfg.PollInterval):
		}
		tasks, err := t.cfg.Redriver.RedriveTasks(ctx)
		if err != nil {
			return s, fmt.Errorf("follow the move task: %w", err)
		}
		task, ok := newest(tasks)
		if !ok || !task.StartedAt.After(before) || task.Running() {
			continue // not listed yet, or still moving
		}
		t.log.Info("message move task ended", "status", task.Status, "moved", task.Moved,
			"started", task.StartedAt.Format(time.RFC3339), "waited", t.cfg.Now().Sub(started).Round(time.Second).String())
		if task.Status != "COMPLETED" {
			return s, fmt.Errorf("the move task ended %s: %s", task.Status, task.Failure)
		}
		if task.Moved > int64(len(entries)) {
			t.log.Warn("more messages moved than were listed: messages that reached the dead-letter queue during the move went back with their jobs still failed, and the worker drops them",
				"listed", len(entries), "moved", task.Moved)
		}
		fmt.Fprintf(t.cfg.Out, "moved %d messages to the jobs queue\n", task.Moved)
		return s, nil
	}
}

// newest is the most recently started task.
func newest(tasks []sqsqueue.RedriveTask) (sqsqueue.RedriveTask, bool) {
	if len(tasks) == 0 {
		return sqsqueue.RedriveTask{}, false
	}
	n := tasks[0]
	for _, t := range tasks[1:] {
		if t.StartedAt.After(n.StartedAt) {
			n = t
		}
	}
	return n, true
}

func label(e Entry) string {
	if e.JobID == "" {
		return "message " + e.MessageID
	}
	return "job " + e.JobID + " (user " + e.Owner + ")"
}

func orNone(reason string) string {
	if reason == "" {
		return "no recorded failure"
	}
	return short(oneLine(reason), 90)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
