package cognito

import (
	"github.com/promptq/promptq/internal/jobs"
)

// The errors this package returns, wrapped with a cause for logs: compare
// with errors.Is (jobs.Error matches on kind and message). Their messages
// are written for the person holding the token and never contain it.
var (
	// ErrTokenInvalid: the token is not a valid access token of this user
	// pool and app (bad signature, wrong issuer, other app client, not a
	// JWT at all, ...). Clients should sign in again.
	ErrTokenInvalid = &jobs.Error{Kind: jobs.KindUnauthorized,
		Message: "The access token is not valid."}
	// ErrIDToken: an ID token was sent where the access token belongs, a
	// common client mistake worth naming.
	ErrIDToken = &jobs.Error{Kind: jobs.KindUnauthorized,
		Message: "This is an ID token; send the access token instead."}
	// ErrTokenExpired: the token's lifetime is over; clients should refresh
	// it and retry.
	ErrTokenExpired = &jobs.Error{Kind: jobs.KindUnauthorized,
		Message: "The access token has expired."}
	// ErrTokenRevoked: Cognito no longer accepts the token (the user signed
	// out, or was disabled or deleted).
	ErrTokenRevoked = &jobs.Error{Kind: jobs.KindUnauthorized,
		Message: "The access token has been revoked."}
	// ErrCognitoUnavailable: Cognito (its key set or GetUser) could not be
	// reached or is throttling. The token may be fine; retry later.
	ErrCognitoUnavailable = &jobs.Error{Kind: jobs.KindUnavailable,
		Message: "Sign-in can't be checked right now; please try again shortly."}
)

// withCause returns a copy of sentinel carrying cause for logs. The copy
// still matches the sentinel with errors.Is.
func withCause(sentinel *jobs.Error, cause error) *jobs.Error {
	e := *sentinel
	e.Err = cause
	return &e
}
