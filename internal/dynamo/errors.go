package dynamo

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/awserr"
	"github.com/promptq/promptq/internal/jobs"
)

// translate turns an AWS error that the SDK gave up retrying into a
// KindUnavailable domain error (the caller may try again later) and leaves
// every other error as it is. Conditional-check failures are handled where
// the condition is known, not here.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var (
		throughput *types.ProvisionedThroughputExceededException
		limit      *types.RequestLimitExceeded
		throttling *types.ThrottlingException
		internal   *types.InternalServerError
		conflict   *types.TransactionConflictException
		inProgress *types.TransactionInProgressException
	)
	switch {
	case errors.As(err, &throughput), errors.As(err, &limit), errors.As(err, &throttling),
		errors.As(err, &internal), errors.As(err, &conflict), errors.As(err, &inProgress),
		awserr.Transient(err):
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &jobs.Error{
		Kind:    jobs.KindUnavailable,
		Message: "The job store is busy or unreachable; try again shortly.",
		Err:     err,
	}
}

func isConditionFailed(err error) bool {
	var failed *types.ConditionalCheckFailedException
	return errors.As(err, &failed)
}
