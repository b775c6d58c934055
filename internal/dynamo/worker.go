package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/promptq/promptq/internal/jobs"
)

// Claim takes the owner's job for a worker: a queued job, or a running one
// whose lease has lapsed (its worker died), becomes running with attempts
// one higher, a lease until now+lease, and started_at and sent_at now (a
// message reached a worker). It returns the claimed job; its Attempts is
// the fencing token for every later write.
//
// A job that cannot be claimed (running elsewhere, cancelled, terminal)
// gives the job as it is and an error matching jobs.ErrConflict, so the
// caller can tell a duplicate delivery from a finished job. A missing job
// gives jobs.ErrNotFound.
func (s *Store) Claim(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error) {
	// The prompt and the text so far are read before the claim: a read
	// that failed after it would leave the job claimed by a worker that
	// reports failure, whose message's next delivery would take the job
	// for another worker's and drop it.
	before, err := s.getItem(ctx, owner, id)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("claim job %s: %w", id, err)
	}
	pre, err := before.job()
	if err != nil {
		return jobs.Job{}, fmt.Errorf("claim job %s: %w", id, err)
	}
	if pre, err = s.complete(ctx, pre, before.TextBytes); err != nil {
		return jobs.Job{}, fmt.Errorf("claim job %s: %w", id, err)
	}
	textCond := "#text_bytes = :pre_bytes"
	if before.TextBytes == 0 {
		textCond = "(attribute_not_exists(#text_bytes) OR #text_bytes = :pre_bytes)"
	}
	now := s.now()
	c := guarded(jobs.Claim, 0, now)
	c.cond += " AND " + textCond
	c.update = "SET #attempts = #attempts + :one, #lease_until = :lease, #started_at = :now, #updated_at = :now, #sent_at = :now REMOVE #waiting"
	c.values[":one"] = num(1)
	c.values[":lease"] = num(millis(now.Add(lease)))
	c.values[":now"] = str(formatTime(now))
	c.values[":pre_bytes"] = num(int64(before.TextBytes))
	j, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return j, fmt.Errorf("claim job %s: %w", id, err)
	}
	// The worker needs the prompt, and the text to continue: as read
	// before, since the claim's condition says the text is still as long
	// (only a worker whose lease lapsed could have written since; then the
	// claim is a conflict, and the message comes back).
	j.Prompt, j.System, j.GeneratedText = pre.Prompt, pre.System, pre.GeneratedText
	return j, nil
}

// held is the change t by the worker holding attempt (a Held rule), with
// :now set for its update.
func held(t jobs.Transition, attempt int, now time.Time) change {
	c := guarded(t, attempt, now)
	c.values[":now"] = str(formatTime(now))
	return c
}

// tokenValues adds p's counts to v, for tokenSet.
func tokenValues(v map[string]types.AttributeValue, p jobs.Progress) {
	v[":in"] = num(int64(p.Tokens.Input))
	v[":out"] = num(int64(p.Tokens.Output))
	v[":cache_read"] = num(int64(p.Tokens.CacheRead))
	v[":cache_write"] = num(int64(p.Tokens.CacheWrite))
	v[":continuations"] = num(int64(p.Continuations))
}

const tokenSet = "#input_tokens = :in, #output_tokens = :out, #cache_read_tokens = :cache_read, " +
	"#cache_write_tokens = :cache_write, #continuations = :continuations"

// SaveProgress writes the text generated so far, its token counts and
// continuations to the job the caller claimed as attempt, and extends the
// lease to now+lease. Only the output chunks from p.Saved on are written
// (text.go). If the job was cancelled or claimed again by another worker it
// returns an error matching jobs.ErrConflict: the caller should stop.
func (s *Store) SaveProgress(ctx context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error {
	now := s.now()
	c := held(jobs.SaveProgress, attempt, now)
	c.update = "SET " + tokenSet + ", #lease_until = :lease, #updated_at = :now"
	tokenValues(c.values, p)
	c.values[":lease"] = num(millis(now.Add(lease)))
	if !p.TextDueAt.IsZero() {
		// In the same update: it costs no write of its own.
		c.update += ", #text_due_at = :due"
		c.values[":due"] = num(millis(p.TextDueAt))
	}
	err := s.writeText(ctx, owner, id, attempt, c, p)
	if err != nil {
		return fmt.Errorf("save progress of job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}

// Finish marks the job the caller claimed as attempt succeeded, with the
// final text, token counts and stop reason, and charges the attempt
// p.Charge in the same transaction as the settlement (settle.go), unless
// it was charged already. A conflict (the job was cancelled or taken over)
// charges nothing: the caller charges the attempt then (Charge).
func (s *Store) Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error {
	c := held(jobs.Finish, attempt, s.now())
	c.update = "SET " + tokenSet + ", #stop_reason = :stop, #updated_at = :now, #finished_at = :now REMOVE #lease_until"
	tokenValues(c.values, p)
	c.values[":stop"] = str(p.StopReason)
	if p.Charge.Total() > 0 {
		c.charge = &attemptCharge{attempt: attempt, tokens: p.Charge}
	}
	err := s.writeText(ctx, owner, id, attempt, c, p)
	if err != nil {
		return fmt.Errorf("finish job %s attempt %d: %w", id, attempt, err)
	}
	// A search finds the answer's words from now on (search.go).
	s.indexAnswer(ctx, owner, id, p.GeneratedText)
	return nil
}

// Fail marks the job the caller claimed as attempt failed with f. Text
// generated before the failure stays, for whoever investigates.
func (s *Store) Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error {
	c := held(jobs.Fail, attempt, s.now())
	c.update = "SET #failure_code = :code, #failure_message = :msg, #updated_at = :now, #finished_at = :now REMOVE #lease_until"
	c.values[":code"] = str(f.Code)
	c.values[":msg"] = str(f.Message)
	_, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return fmt.Errorf("fail job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}

// Release gives the job the caller claimed as attempt back to the queue
// (before the Lambda deadline, after a transient error or a throttle), so
// the next delivery can claim it at once instead of waiting for the lease
// to lapse. Its message comes back after w.After (the caller's backoff, or
// the delay of the message it sends): sent_at becomes that time, as
// SentBack writes it, so a replay meanwhile does not send another; and
// the job says why it waits (w: waiting), in the same update.
//
// The text written so far and the token counts are kept: the next attempt
// continues the text (internal/worker), and a client polling the job never
// sees it shrink. Attempts is kept, so the next claim's fencing token is
// higher than this one's.
func (s *Store) Release(ctx context.Context, owner, id string, attempt int, w jobs.Wait) error {
	now := s.now()
	c := held(jobs.Release, attempt, now)
	c.update = "SET #updated_at = :now, #sent_at = :due REMOVE #lease_until, #stop_reason, #started_at, #waiting"
	if w.Reason != "" {
		c.update = "SET #updated_at = :now, #sent_at = :due, #waiting = :waiting REMOVE #lease_until, #stop_reason, #started_at"
		v, err := waitValue(w)
		if err != nil {
			return fmt.Errorf("release job %s attempt %d: %w", id, attempt, err)
		}
		c.values[":waiting"] = v
	}
	c.values[":due"] = str(formatTime(now.Add(w.After)))
	_, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return fmt.Errorf("release job %s attempt %d: %w", id, attempt, err)
	}
	return nil
}
