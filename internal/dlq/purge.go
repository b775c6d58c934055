package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// PurgeOptions select what Purge deletes.
type PurgeOptions struct {
	Filter Filter
	// Only, when not nil, restricts the purge to these message ids: the
	// ones an operator confirmed after a Preview, so a message that
	// arrived since is not deleted unseen.
	Only map[string]bool
}

// Preview returns the messages f selects, with their jobs, changing
// nothing: what replay --dry-run or purge would act on. Each message is
// hidden for PeekVisibility while it is looked at and shown again at the
// end.
func (t *Tool) Preview(ctx context.Context, f Filter) ([]Entry, error) {
	var (
		s       Summary
		entries []Entry
	)
	err := t.selected(ctx, f, t.cfg.PeekVisibility, nil, &s, func(ctx context.Context, e Entry) (bool, error) {
		entries = append(entries, e)
		return false, nil
	})
	return entries, err
}

// PurgedMessage is what a purged job's owner reads as its failure.
const PurgedMessage = "An operator stopped this job after it kept failing; it will not run again. Submit the prompt again if you still need an answer."

// Purge deletes the selected messages and fails their jobs for good
// (jobs.FailurePurged), so no owner waits on a job nobody will run. The
// job is marked before its message is deleted: interrupted in between,
// the message stays and a second purge finishes it.
//
// A job a worker is running under a live lease (its message was replayed,
// and the replay interrupted before it deleted the dead letter) is left
// to finish: failing it would throw away a result being paid for, and the
// store refuses to. Its dead letter is still deleted, because it is a
// stale copy: the worker holds the job's live message, which comes back
// (and reaches the dead-letter queue again) only if this run fails too.
// Such jobs are counted in Summary.LeftRunning.
func (t *Tool) Purge(ctx context.Context, o PurgeOptions) (Summary, error) {
	var s Summary
	err := t.selected(ctx, o.Filter, t.cfg.HoldVisibility, o.Only, &s, func(ctx context.Context, e Entry) (bool, error) {
		log := t.entryLog(e)
		pj := PurgedJob{MessageID: e.MessageID, JobID: e.JobID, Owner: e.Owner, Outcome: OutcomeUntouched}
		if j := e.job; j != nil && j.Status != jobs.StatusSucceeded && j.Status != jobs.StatusCancelled {
			msg := PurgedMessage
			if j.Failure != nil && j.Failure.Code != jobs.FailurePurged && j.Failure.Message != "" {
				msg += " The last error was: " + j.Failure.Message
			}
			err := t.cfg.Store.MarkFailed(ctx, e.Owner, e.JobID, jobs.Failure{Code: jobs.FailurePurged, Message: msg})
			switch {
			case errors.Is(err, jobs.ErrConflict):
				// Running under a live lease, or ended since it was read:
				// either way the dead letter is a stale copy. Read the
				// job again only to say which.
				cur, gerr := t.cfg.Store.Get(ctx, e.Owner, e.JobID)
				if gerr == nil && cur.Status == jobs.StatusRunning {
					pj.Outcome, pj.Attempt = OutcomeLeftRunning, cur.Attempts
					lease := cur.LeaseUntil
					pj.LeaseUntil = &lease
					s.LeftRunning++
					log.Info("job left running: a worker is running it under a live lease and holds its live message; only the stale dead letter is deleted",
						"attempt", cur.Attempts, "lease_until", cur.LeaseUntil.Format(time.RFC3339))
				} else {
					log.Info("job not marked: it ended or went away since it was read", "error", err, "read_error", errString(gerr))
				}
			case errors.Is(err, jobs.ErrNotFound):
				log.Info("job not marked: it ended or went away since it was read", "error", err)
			case err != nil:
				return false, fmt.Errorf("job %s: %w", e.JobID, err)
			default:
				pj.Outcome = OutcomeFailed
				log.Info("job marked failed for good", "failure_code", jobs.FailurePurged, "previous_status", j.Status)
			}
		}
		if err := t.cfg.DeadLetters.Delete(ctx, e.letter.ReceiptHandle); err != nil {
			return false, fmt.Errorf("%s: %w", label(e), err)
		}
		s.Purged++
		s.Jobs = append(s.Jobs, pj)
		log.Info("dead letter purged", "status", e.Status, "job_outcome", pj.Outcome)
		if pj.Outcome == OutcomeLeftRunning {
			fmt.Fprintf(t.cfg.Out, "purged %s: deleted its dead letter only; left job %s running: a worker is running it now (attempt %d, lease until %s) and holds its live message\n",
				label(e), e.JobID, pj.Attempt, pj.LeaseUntil.Format(time.RFC3339))
		} else {
			fmt.Fprintf(t.cfg.Out, "purged %s\n", label(e))
		}
		return true, nil
	})
	t.log.Info("purge finished", "matched", s.Matched, "purged", s.Purged, "left_running", s.LeftRunning, "error", errString(err))
	return s, err
}

// runningNow reports whether e's job was running under a lease that had
// not ended at now when it was read: what purge will leave alone.
func runningNow(e Entry, now time.Time) bool {
	return e.Status == string(jobs.StatusRunning) && e.LeaseUntil != nil && e.LeaseUntil.After(now)
}
