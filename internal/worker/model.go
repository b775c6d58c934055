package worker

import (
	"context"
	"errors"

	"github.com/promptq/promptq/internal/jobs"
)

// Model generates text. internal/bedrock and internal/dev/localmodel implement
// it.
//
// Generate calls onDelta with each piece of text as it arrives, in order and
// from the goroutine that called Generate, and returns the whole result:
// the full text, token counts and the model's stop reason ("end_turn",
// "max_tokens", ...).
//
// When ctx is done Generate must stop promptly and return an error (ctx's,
// possibly wrapped), never a nil error with a partial result: the worker
// finishes a job only with what Generate returned without error.
//
// Errors the model itself reports are *jobs.Error values whose Message is
// safe to show to the job's owner. Their kind decides what the worker does
// (see [Retryable]).
type Model interface {
	Generate(ctx context.Context, req jobs.Request, onDelta func(text string)) (jobs.Progress, error)
}

// Retryable reports whether a model or store error is worth another attempt.
//
// A request the model rejects (KindInvalid), is not allowed to run
// (KindUnauthorized), or names a model that does not exist (KindNotFound,
// KindTooLarge) will fail the same way every time, so it is permanent. Every
// other error is retryable: throttling and outages (KindUnavailable,
// KindRateLimited) by definition, and unclassified errors (KindInternal, or
// errors that are not *jobs.Error) because a bounded number of retries is
// cheap while failing a job for a blip is not; the queue's maxReceiveCount
// bounds them.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	switch jobs.KindOf(err) {
	case jobs.KindInvalid, jobs.KindUnauthorized, jobs.KindNotFound, jobs.KindTooLarge:
		return false
	}
	return true
}

// readable returns the part of err that may be shown to the job's owner.
func readable(err error) string {
	var e *jobs.Error
	if errors.As(err, &e) && e.Kind != jobs.KindInternal && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}
