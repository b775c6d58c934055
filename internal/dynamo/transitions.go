package dynamo

// Every transition of a job this store writes, in the order of
// jobs.Rules (a job's life), each readable here from its rule to its
// write: guarded (or held, for a worker's) gives the rule's condition and
// target status from jobs.Rules; the transition adds the condition of its
// own (never widening the rule's), its update and values; apply (change.go)
// writes it as one conditional UpdateItem, or, when it ends or reopens a
// counted job or writes text chunks, as one transaction with the budget's
// settlement and the chunks. The worker's text goes through writeText
// (text.go), which adds the chunks it must write to the change.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

// AbandonEnqueue records that the API stored a job but could not queue it:
// the queued job becomes failed with f, and its idempotency record is
// deleted in the same transaction, so a retry with the same key creates a
// new job instead of returning this dead one.
func (s *Store) AbandonEnqueue(ctx context.Context, owner, id string, f jobs.Failure) error {
	if err := s.abandonEnqueue(ctx, owner, id, f); err != nil {
		return fmt.Errorf("abandon enqueue of job %s: %w", id, err)
	}
	return nil
}

func (s *Store) abandonEnqueue(ctx context.Context, owner, id string, f jobs.Failure) error {
	j, err := s.get(ctx, owner, id)
	if err != nil {
		return err
	}
	now := s.now()
	fail := guarded(jobs.AbandonEnqueue, 0, now)
	fail.update = "SET #failure_code = :code, #failure_message = :msg, #updated_at = :now, #finished_at = :now"
	fail.values[":code"] = str(f.Code)
	fail.values[":msg"] = str(f.Message)
	fail.values[":now"] = str(formatTime(now))
	if j.IdempotencyKey == "" {
		_, err := s.apply(ctx, owner, id, fail)
		return err
	}
	// The job's budget is settled in the same transaction (settle.go).
	settle := s.settleInTransaction(owner, &fail, j.Budget)
	upd, err := fail.updateInput(s.table, owner, id)
	if err != nil {
		return err
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: append([]types.TransactWriteItem{
			{Update: &types.Update{
				TableName:                 upd.TableName,
				Key:                       upd.Key,
				UpdateExpression:          upd.UpdateExpression,
				ConditionExpression:       upd.ConditionExpression,
				ExpressionAttributeNames:  upd.ExpressionAttributeNames,
				ExpressionAttributeValues: upd.ExpressionAttributeValues,
			}},
			{Delete: &types.Delete{
				TableName: aws.String(s.table),
				Key:       idemKey(owner, j.IdempotencyKey),
				// Only this job's record: after it expired the key may
				// have been used again for another job.
				ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #job_id = :id"),
				ExpressionAttributeNames:  names("#pk", "#job_id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id)},
			}},
		}, settle...),
	})
	if err == nil {
		return nil
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return translate(err)
	}
	switch {
	case reasonIs(canceled.CancellationReasons, 0, "ConditionalCheckFailed"):
		// The job left queued (or went away) since we read it.
		_, err := s.lostCondition(ctx, owner, id, nil, "")
		return err
	case reasonIs(canceled.CancellationReasons, 1, "ConditionalCheckFailed"):
		// The key belongs to another job now; leave it and fail ours.
		_, err := s.apply(ctx, owner, id, fail)
		return err
	}
	return translate(err)
}

// SwapSentAt moves the owner's queued job's SentAt from old to new, and
// fails with an error matching jobs.ErrConflict unless the job is queued
// and its SentAt is old (absent, for the zero time: a job from before
// sent_at existed). Of several callers that read the same SentAt, exactly
// one wins: the one that may send the job's message again.
func (s *Store) SwapSentAt(ctx context.Context, owner, id string, old, new time.Time) (jobs.Job, error) {
	c := guarded(jobs.SwapSentAt, 0, s.now())
	c.update = "SET #sent_at = :new"
	c.values[":new"] = str(formatTime(new))
	if old.IsZero() {
		c.cond += " AND attribute_not_exists(#sent_at)"
	} else {
		c.cond += " AND #sent_at = :old"
		c.values[":old"] = str(formatTime(old))
	}
	j, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return j, fmt.Errorf("swap sent_at of job %s: %w", id, err)
	}
	return j, nil
}

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
	j.Prompt, j.System, j.GeneratedText, j.ResponseFormat = pre.Prompt, pre.System, pre.GeneratedText, pre.ResponseFormat
	return j, nil
}

// ClaimForRun claims the owner's queued economy job for run runID as
// attempt, as a worker's claim does (attempts one higher: the job must be
// at attempt-1, as the collector read it and recorded it among the run's
// jobs; running under a lease of lease, which should outlast the run).
// The run must still be starting, checked in
// the same transaction: a claim that lands late, after its run was
// abandoned (its answer lost, or a collector that stopped), fails rather
// than leave a job held by a run that will never end it. A job that is not
// a queued economy job at that attempt (cancelled meanwhile, in another
// run, claimed since), or a run no longer starting, gives an error
// matching jobs.ErrConflict.
func (s *Store) ClaimForRun(ctx context.Context, owner, id, runID string, attempt int, lease time.Duration) error {
	now := s.now()
	c := guarded(jobs.Claim, 0, now)
	c.cond += " AND #lane = :economy AND attribute_not_exists(#run_id) AND #attempts = :before"
	c.update = "SET #attempts = :attempt, #lease_until = :lease, #started_at = :now, #updated_at = :now, #sent_at = :now, #run_id = :run"
	c.values[":economy"] = str(string(jobs.LaneEconomy))
	c.values[":before"] = num(int64(attempt - 1))
	c.values[":attempt"] = num(int64(attempt))
	c.values[":lease"] = num(millis(now.Add(lease)))
	c.values[":now"] = str(formatTime(now))
	c.values[":run"] = str(runID)
	c.puts = append(c.puts, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(runPK(runID), runSK),
		ConditionExpression:       aws.String("#state = :starting"),
		ExpressionAttributeNames:  names("#state"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":starting": str(string(jobs.RunStarting))},
	}})
	_, err := s.apply(ctx, owner, id, c)
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) && reasonIs(canceled.CancellationReasons, 1, "ConditionalCheckFailed") {
		err = fmt.Errorf("run %s is no longer starting: %w", runID, jobs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("claim job %s for run %s: %w", id, runID, err)
	}
	return nil
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

// Cancel moves the owner's queued or running job to cancelled and returns
// it. A terminal job gives an error matching jobs.ErrConflict; a missing
// one jobs.ErrNotFound. A running job's worker notices at its next write,
// which the cancelled status makes fail.
func (s *Store) Cancel(ctx context.Context, owner, id string) (jobs.Job, error) {
	now := s.now()
	c := guarded(jobs.Cancel, 0, now)
	c.wantJob = true
	c.update = "SET #updated_at = :now, #finished_at = :now REMOVE #lease_until"
	c.values[":now"] = str(formatTime(now))
	j, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	if e := j.Economy; e != nil && e.RunID != "" {
		// Counted on its run, whose job the completion's check stops
		// once every job of it is cancelled. A count that fails leaves
		// the run to finish: the cancel holds either way.
		if err := s.countCancelled(ctx, e.RunID); err != nil {
			slog.WarnContext(ctx, "could not count a cancelled job on its economy run", "job_id", id, "error", err)
		}
	}
	if j, err = s.completed(ctx, j); err != nil {
		return jobs.Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return j, nil
}

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

// RerouteWaiting moves the owner's waiting economy job (queued, in no run)
// to lane, an on-demand one, queued; the caller then sends its message on
// lane. A job in another state, in a run, or not on the economy lane gives
// an error matching jobs.ErrConflict.
func (s *Store) RerouteWaiting(ctx context.Context, owner, id string, lane jobs.Lane) (jobs.Job, error) {
	return s.reroute(ctx, owner, id, "", 0, lane)
}

// RerouteFromRun moves the owner's economy job that run runID holds as
// attempt to lane, an on-demand one, queued (as RerouteWaiting). A job the
// run does not hold at that attempt (cancelled, ended, claimed since, or
// never claimed by it) gives an error matching jobs.ErrConflict.
func (s *Store) RerouteFromRun(ctx context.Context, owner, id, runID string, attempt int, lane jobs.Lane) (jobs.Job, error) {
	return s.reroute(ctx, owner, id, runID, attempt, lane)
}

// reroute is jobs.Reroute of a waiting job (runID "") or of one runID
// holds as attempt.
func (s *Store) reroute(ctx context.Context, owner, id, runID string, attempt int, lane jobs.Lane) (jobs.Job, error) {
	if !lane.OnDemand() {
		return jobs.Job{}, fmt.Errorf("reroute job %s to lane %q: not an on-demand lane", id, lane)
	}
	now := s.now()
	c := guarded(jobs.Reroute, attempt, now)
	c.cond += " AND #lane = :economy"
	if runID == "" {
		c.cond += " AND #status = :queued AND attribute_not_exists(#run_id)"
		c.values[":queued"] = statusValue(jobs.StatusQueued)
	} else {
		c.cond += " AND #status = :running AND #run_id = :run"
		c.values[":run"] = str(runID)
	}
	c.update = "SET #lane = :lane, #updated_at = :now, #sent_at = :now REMOVE #lease_until, #run_id, #started_at"
	c.values[":economy"] = str(string(jobs.LaneEconomy))
	c.values[":lane"] = str(string(lane))
	c.values[":now"] = str(formatTime(now))
	j, err := s.apply(ctx, owner, id, c)
	if err != nil {
		return j, fmt.Errorf("reroute job %s to the %s lane: %w", id, lane, err)
	}
	return j, nil
}

// SettleRun settles the owner's job that was cancelled inside run runID
// (claimed for it as attempt), once the run has ended: its token counts
// become t, what the run processed for it (the caller charges them first,
// with Charge), and what is left of its reservation and its active place
// go back (jobs.SettleRun). Settling it again changes nothing; a job not
// cancelled in that run at that attempt gives an error matching
// jobs.ErrConflict.
func (s *Store) SettleRun(ctx context.Context, owner, id, runID string, attempt int, t jobs.Tokens) error {
	c := guarded(jobs.SettleRun, 0, s.now())
	c.cond += " AND #attempts = :attempt AND #run_id = :run"
	c.update = "SET " + tokenSet + ", #updated_at = :now"
	tokenValues(c.values, jobs.Progress{Tokens: t})
	c.values[":attempt"] = num(int64(attempt))
	c.values[":run"] = str(runID)
	c.values[":now"] = str(formatTime(s.now()))
	if _, err := s.apply(ctx, owner, id, c); err != nil {
		return fmt.Errorf("settle job %s cancelled in run %s: %w", id, runID, err)
	}
	return nil
}
