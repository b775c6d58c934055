package jobs

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller should do about it. The HTTP
// API gives each kind its status and the code clients see
// (internal/httpapi); the worker maps kinds to retry or fail.
type Kind string

// The kinds of error. Their string values name them in logs.
const (
	KindInvalid      Kind = "invalid_request"
	KindUnauthorized Kind = "unauthorized"
	KindNotFound     Kind = "not_found"
	KindConflict     Kind = "conflict"
	KindTooLarge     Kind = "payload_too_large"
	KindRateLimited  Kind = "rate_limited"
	KindInternal     Kind = "internal"
	KindUnavailable  Kind = "unavailable" // a dependency is down or throttling; retry later
)

// Kinds are all the kinds above, for whoever must map every one (the HTTP
// API's status codes).
var Kinds = []Kind{KindInvalid, KindUnauthorized, KindNotFound, KindConflict, KindTooLarge, KindRateLimited, KindInternal, KindUnavailable}

// Error is a domain error: a kind, a message a person can read (safe to send
// to clients for every kind but KindInternal), and optionally the field it is
// about and a wrapped cause for logs.
type Error struct {
	Kind    Kind
	Field   string // the request field at fault, if any ("prompt", "max_tokens")
	Message string
	// RetryAfterSeconds, when positive, tells a client when trying again
	// makes sense (rate limits).
	RetryAfterSeconds int
	Err               error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinel errors that stores and queues return (wrapped) so callers can use
// errors.Is without knowing the adapter.
var (
	// ErrNotFound: no such job for this owner. Another user's job is
	// indistinguishable from a missing one.
	ErrNotFound = &Error{Kind: KindNotFound, Message: "No job with that id was found."}
	// ErrConflict: a conditional write lost (the job was not in the state
	// the transition needs).
	ErrConflict = &Error{Kind: KindConflict, Message: "The job is not in a state that allows this."}
	// ErrIdempotencyMismatch: an Idempotency-Key was reused with a different
	// request body.
	ErrIdempotencyMismatch = &Error{Kind: KindConflict, Field: "Idempotency-Key",
		Message: "This Idempotency-Key was already used with a different request body."}
)

// Is makes errors.Is(err, ErrNotFound) match any *Error of the same kind and
// message, so adapters can return fresh *Error values with causes attached.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return e.Kind == t.Kind && e.Message == t.Message
}

// Invalid returns a KindInvalid error about field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err: the Kind of the first *Error in its chain,
// or KindInternal.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrRefused is the cause of a refusal (Refused): the model declined the
// request. Retrying the same request gets the same answer, so the job
// fails with FailureRefused, charged what the model billed.
var ErrRefused = errors.New("the model declined the request")

// Stop reasons that mean the model declined the request: "refusal" (the
// Claude 5.5 models' safety classifiers, Anthropic's documentation) and
// "content_filtered" (what Bedrock's Converse reports for a response its
// provider filtered; how Bedrock passes Claude's refusal on is
// unconfirmed, so both count).
const (
	StopRefusal         = "refusal"
	StopContentFiltered = "content_filtered"
)

// IsRefusal reports whether stopReason says the model declined.
func IsRefusal(stopReason string) bool {
	return stopReason == StopRefusal || stopReason == StopContentFiltered
}

// Rejected is the error a model adapter returns for a request the model
// rejected as invalid (Bedrock's ValidationException: a parameter the
// model does not take, max_tokens over its limit): KindInvalid, never
// retried, with the model's message (scrubbed), which usually says what
// to change. cause (the provider's error) stays in the chain for logs.
func Rejected(providerMessage string, cause error) *Error {
	msg := "The model rejected the request as invalid."
	if m := ScrubProviderMessage(providerMessage); m != "" {
		msg = "The model rejected the request: " + m
	}
	return &Error{Kind: KindInvalid, Message: msg, Err: cause}
}

// Refused is the error a model adapter returns for a call the model
// declined: KindInvalid (never retried), its message with the model's
// reason when it gave one (scrubbed; "" when none), wrapping ErrRefused.
func Refused(reason string) *Error {
	msg := "The model declined this request (its safety classifiers stopped it)."
	if r := ScrubProviderMessage(reason); r != "" {
		msg += " Its reason: " + r
	}
	return &Error{Kind: KindInvalid, Message: msg, Err: ErrRefused}
}
