// Package awserr is the one judgement of which errors of an AWS SDK call
// are worth trying again later. The adapters (internal/dynamo,
// internal/sqsqueue) call [Transient] on an error the SDK gave up
// retrying and make it a jobs.KindUnavailable error, which the API answers
// 503 with Retry-After and the worker gives back to its queue; any other
// error stays what it is (a missing table, a refused request).
package awserr

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// sdkRetryable is the SDK's own judgement of what is worth retrying:
// throttling codes, 5xx, timeouts and broken connections (but not a
// cancelled context).
var sdkRetryable = retry.IsErrorRetryables(retry.DefaultRetryables)

// Transient reports whether err, from an AWS SDK call that has used up
// its own retries, may succeed if tried again later.
func Transient(err error) bool {
	return err != nil && sdkRetryable.IsErrorRetryable(err) == aws.TrueTernary
}
