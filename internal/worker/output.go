package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// checkOutput checks the final answer of a job with a response format
// against its schema (jobs.ResponseFormat.Check) before the job may
// succeed, and reports whether it decided the message's outcome (done):
// an answer that conforms leaves the job to finish.
//
// One that does not is tried once more, from the start: the attempt is
// charged, the job keeps its tokens but not the text (continuing JSON
// that does not conform mends nothing), and a new message, counting the
// invalid answer (jobs.Message.InvalidOutputs), comes back at once, the
// job saying it waits for a retry and why. After MaxInvalidOutputs such
// answers the job fails with FailureInvalidOutput and the validation
// error, its last answer kept for its owner to see.
func (w *Worker) checkOutput(ctx context.Context, at *attempt, result jobs.Progress) (o outcome, done bool) {
	job, msg, log := at.job, at.msg, at.log
	if job.ResponseFormat == nil {
		return ack, false
	}
	_, err := job.ResponseFormat.Check(result.GeneratedText)
	if err == nil {
		return ack, false
	}
	w.charge(ctx, at, result.Charge)
	var bad *jobs.OutputError
	if !errors.As(err, &bad) {
		// The schema itself no longer compiles (none gets past the API):
		// no try mends that.
		log.ErrorContext(ctx, "the job's response format does not compile", "error", err)
		return w.failOutput(ctx, at, result, "The job's response_format could not be used."), true
	}
	if msg.InvalidOutputs+1 >= jobs.MaxInvalidOutputs {
		return w.failOutput(ctx, at, result, fmt.Sprintf("%s (after %d tries)", bad.Message, msg.InvalidOutputs+1)), true
	}
	cleared := jobs.Progress{Tokens: result.Tokens, Continuations: result.Continuations}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.store.SaveProgress(rctx, job.Owner, job.ID, job.Attempts, cleared, w.cfg.Lease); err != nil {
		log.WarnContext(ctx, "could not clear an answer that does not conform; the message will come back", "error", err)
		return retryAfter(w.backoff(1)), true
	}
	wait := jobs.Wait{Reason: jobs.WaitRetry, After: sendDelay(0), Try: msg.InvalidOutputs + 1,
		Tries: jobs.MaxInvalidOutputs, Error: bad.Message}
	if err := w.store.Release(rctx, job.Owner, job.ID, job.Attempts, wait); err != nil {
		log.WarnContext(ctx, "could not release a job whose answer does not conform; it is claimable when its lease lapses", "error", err)
		return retryAfter(w.cfg.Lease), true
	}
	log.InfoContext(ctx, "the answer does not conform to the job's schema; trying once more",
		"invalid_outputs", msg.InvalidOutputs+1, "text_bytes", len(result.GeneratedText), "output_tokens", result.Tokens.Output)
	job.GeneratedText, job.Tokens, job.Continuations = "", result.Tokens, result.Continuations
	next := job.Message()
	next.Displaced, next.InvalidOutputs = msg.Displaced, msg.InvalidOutputs+1
	return w.deferJob(ctx, at, next, putOff{after: wait.After, why: "its answer did not conform to its schema",
		counted: true, released: true, reason: jobs.WaitRetry}), true
}

// failOutput fails a job whose answer did not conform to its schema,
// keeping the answer and its tokens.
func (w *Worker) failOutput(ctx context.Context, at *attempt, result jobs.Progress, message string) outcome {
	job, log := at.job, at.log
	w.keep(ctx, at, jobs.Progress{GeneratedText: result.GeneratedText, Tokens: result.Tokens,
		StopReason: result.StopReason, Continuations: result.Continuations}, true)
	err := w.store.Fail(ctx, job.Owner, job.ID, job.Attempts, jobs.Failure{Code: jobs.FailureInvalidOutput, Message: message})
	switch {
	case errors.Is(err, jobs.ErrConflict):
		log.InfoContext(ctx, "job was cancelled or taken over before its failure was saved")
		return ack
	case err != nil:
		log.ErrorContext(ctx, "could not record the job's failure; the message will come back", "error", err)
		return retryAfter(w.backoff(1))
	}
	log.WarnContext(ctx, "job failed: its answer does not conform to its schema")
	return ack
}
