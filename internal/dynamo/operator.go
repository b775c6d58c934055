package dynamo

import (
	"context"
	"fmt"

	"github.com/promptq/promptq/internal/jobs"
)

// Requeue makes the owner's job queued again for a replay from the
// dead-letter queue: a failed or queued job, or a running one whose lease
// has lapsed. The failure, lease, partial result and timings of the last
// attempt are cleared (a job created with text to continue keeps that
// text, its seed_bytes: every later text starts with it), and sent_at is now (the caller sends its message
// next); Attempts is kept (it is the fencing token). A job
// running under a live lease, succeeded or cancelled gives an error
// matching jobs.ErrConflict.
func (s *Store) Requeue(ctx context.Context, owner, id string) (jobs.Job, error) {
	now := s.now()
	c := guarded(jobs.Requeue, 0, now)
	c.reopens, c.wantJob = true, true
	// "+ :zero": kumo (v0.33.1) leaves the target unchanged when a lone
	// if_not_exists finds its path; in a sum it reads it, as DynamoDB does.
	c.update = "SET #input_tokens = :zero, #output_tokens = :zero, #text_bytes = if_not_exists(#seed_bytes, :zero) + :zero, " +
		"#updated_at = :now, #sent_at = :now " +
		"REMOVE #lease_until, #failure_code, #failure_message, #text_preview, #stop_reason, #started_at, #finished_at, " +
		"#cache_read_tokens, #cache_write_tokens, #continuations, #run_id, #waiting"
	c.values[":zero"] = num(0)
	c.values[":now"] = str(formatTime(now))
	j, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("requeue job %s: %w", id, err)
	}
	if j, err = s.completed(ctx, j); err != nil {
		return jobs.Job{}, fmt.Errorf("requeue job %s: %w", id, err)
	}
	return j, nil
}

// MarkFailed fails the owner's job with f: a queued or failed job, or a
// running one whose lease has lapsed (its worker is gone). Operators use
// it for a message purged from the dead-letter queue, so its job does not
// stay queued or running forever. A job running under a live lease (a
// worker is generating it now, after an interrupted replay), succeeded or
// cancelled gives an error matching jobs.ErrConflict and is left as it
// is: failing it would throw away a result already being paid for. A
// failed job gets the new failure.
func (s *Store) MarkFailed(ctx context.Context, owner, id string, f jobs.Failure) error {
	now := s.now()
	c := guarded(jobs.MarkFailed, 0, now)
	c.update = "SET #failure_code = :code, #failure_message = :msg, #updated_at = :now, #finished_at = :now REMOVE #lease_until"
	c.values[":code"] = str(f.Code)
	c.values[":msg"] = str(f.Message)
	c.values[":now"] = str(formatTime(now))
	_, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return fmt.Errorf("mark job %s failed: %w", id, err)
	}
	return nil
}
