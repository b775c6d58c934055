package dlq

import (
	"context"
	"errors"
	"fmt"

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
func (t *Tool) Purge(ctx context.Context, o PurgeOptions) (Summary, error) {
	var s Summary
	err := t.selected(ctx, o.Filter, t.cfg.HoldVisibility, o.Only, &s, func(ctx context.Context, e Entry) (bool, error) {
		log := t.entryLog(e)
		if j := e.job; j != nil && j.Status != jobs.StatusSucceeded && j.Status != jobs.StatusCancelled {
			msg := PurgedMessage
			if j.Failure != nil && j.Failure.Code != jobs.FailurePurged && j.Failure.Message != "" {
				msg += " The last error was: " + j.Failure.Message
			}
			err := t.cfg.Store.MarkFailed(ctx, e.Owner, e.JobID, jobs.Failure{Code: jobs.FailurePurged, Message: msg})
			switch {
			case errors.Is(err, jobs.ErrConflict), errors.Is(err, jobs.ErrNotFound):
				log.Info("job not marked: it ended or went away since it was read", "error", err)
			case err != nil:
				return false, fmt.Errorf("job %s: %w", e.JobID, err)
			default:
				log.Info("job marked failed for good", "failure_code", jobs.FailurePurged, "previous_status", j.Status)
			}
		}
		if err := t.cfg.DeadLetters.Delete(ctx, e.letter.ReceiptHandle); err != nil {
			return false, fmt.Errorf("%s: %w", label(e), err)
		}
		s.Purged++
		log.Info("dead letter purged", "status", e.Status)
		fmt.Fprintf(t.cfg.Out, "purged %s\n", label(e))
		return true, nil
	})
	t.log.Info("purge finished", "matched", s.Matched, "purged", s.Purged, "error", errString(err))
	return s, err
}
