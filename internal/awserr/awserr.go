// Package awserr is the one judgement of which errors of an AWS SDK call
// are worth trying again later. The adapters (internal/dynamo,
// internal/sqsqueue) call [Transient] on an error the SDK gave up
// retrying and make it a jobs.KindUnavailable error, which the API answers
// 503 with Retry-After and the worker gives back to its queue; any other
// error stays what it is (a missing table, a refused request), and the API
// answers it 500 and logs it.
package awserr

import (
	"context"
	"errors"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// sdkRetryable is the SDK's own judgement of what is worth retrying:
// throttling codes, 5xx, timeouts and broken connections (but not a
// cancelled context).
var sdkRetryable = retry.IsErrorRetryables(retry.DefaultRetryables)

// Transient reports whether err, from an AWS SDK call that has used up
// its own retries, may succeed if tried again later: what the SDK itself
// would retry, and two failures it does not retry but that say nothing
// about the request:
//
//   - an answer that broke off: a success whose body ended before the
//     JSON did (the SDK's deserialization error wraps io.ErrUnexpectedEOF).
//     The connection closed early; the same call can succeed at once.
//     kumo, the DynamoDB stand-in, does this now and then to a Query that
//     races a write to the same partition (docs/reliability.md).
//   - a call that ran out of its context's deadline (a Lambda's or a
//     request's time): the service was too slow for it this time.
//
// A cancelled context is not transient: whoever asked has gone.
func Transient(err error) bool {
	var de *smithy.DeserializationError
	switch {
	case err == nil:
		return false
	case sdkRetryable.IsErrorRetryable(err) == aws.TrueTernary:
		return true
	case errors.As(err, &de) && errors.Is(de, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}
