package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/promptq/promptq/internal/jobs"
)

// Requeue makes the owner's job queued again for a replay from the
// dead-letter queue: a failed or queued job, or a running one whose lease
// has lapsed. The failure, lease, partial result and timings of the last
// attempt are cleared, and sent_at is now (the caller sends its message
// next); Attempts is kept (it is the fencing token). A job
// running under a live lease, succeeded or cancelled gives an error
// matching jobs.ErrConflict.
func (s *Store) Requeue(ctx context.Context, owner, id string) (jobs.Job, error) {
	now := s.now()
	j, err := s.apply(ctx, owner, id, change{
		reopens: true, wantJob: true,
		cond: "#status IN (:failed, :queued) OR (#status = :running AND #lease_until < :nowms)",
		to:   jobs.StatusQueued,
		update: "SET #input_tokens = :zero, #output_tokens = :zero, #text_bytes = :zero, #updated_at = :now, #sent_at = :now " +
			"REMOVE #lease_until, #failure_code, #failure_message, #text_preview, #stop_reason, #started_at, #finished_at, " +
			"#cache_read_tokens, #cache_write_tokens, #continuations",
		values: map[string]types.AttributeValue{
			":failed":  statusValue(jobs.StatusFailed),
			":queued":  statusValue(jobs.StatusQueued),
			":running": statusValue(jobs.StatusRunning),
			":nowms":   num(millis(now)),
			":zero":    num(0),
			":now":     str(formatTime(now)),
		},
	})
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
	_, err := s.apply(ctx, owner, id, change{
		cond:   "#status IN (:queued, :failed) OR (#status = :running AND #lease_until < :nowms)",
		to:     jobs.StatusFailed,
		update: "SET #failure_code = :code, #failure_message = :msg, #updated_at = :now, #finished_at = :now REMOVE #lease_until",
		values: map[string]types.AttributeValue{
			":queued":  statusValue(jobs.StatusQueued),
			":running": statusValue(jobs.StatusRunning),
			":failed":  statusValue(jobs.StatusFailed),
			":nowms":   num(millis(now)),
			":code":    str(f.Code),
			":msg":     str(f.Message),
			":now":     str(formatTime(now)),
		},
	})
	if err != nil {
		return fmt.Errorf("mark job %s failed: %w", id, err)
	}
	return nil
}
