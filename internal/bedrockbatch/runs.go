package bedrockbatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"

	"github.com/promptq/promptq/internal/jobs"
)

// JobNamePrefix begins the name of every model invocation job promptq
// starts (jobs.RunJobNamePrefix, which the stack's event rule matches).
const JobNamePrefix = jobs.RunJobNamePrefix

// Runs starts, reads and stops model invocation jobs (Bedrock's control
// plane). It is safe for concurrent use.
type Runs struct {
	client *bedrock.Client
	// roleARN is the service role Bedrock runs the jobs as; it reads
	// the input and writes the output in the economy bucket.
	roleARN string
}

// NewRuns returns Runs that start jobs as roleARN.
func NewRuns(client *bedrock.Client, roleARN string) *Runs {
	return &Runs{client: client, roleARN: roleARN}
}

// Start is what a run needs to start.
type Start struct {
	RunID     string
	Model     string
	InputURI  string // the s3:// URI of its JSONL input
	OutputURI string // the s3:// prefix Bedrock writes under
	// TimeoutHours is how long Bedrock may take (its range: 24 to 168).
	TimeoutHours int
}

// Start creates the run's model invocation job and returns its ARN. The
// run id is the client request token, so starting a run again (a retry,
// or a collector that died after the call) gives the same job, never a
// second one.
func (r *Runs) Start(ctx context.Context, s Start) (string, error) {
	out, err := r.client.CreateModelInvocationJob(ctx, &bedrock.CreateModelInvocationJobInput{
		JobName:             aws.String(JobNamePrefix + s.RunID),
		ClientRequestToken:  aws.String(s.RunID),
		ModelId:             aws.String(s.Model),
		RoleArn:             aws.String(r.roleARN),
		ModelInvocationType: types.ModelInvocationTypeConverse,
		InputDataConfig: &types.ModelInvocationJobInputDataConfigMemberS3InputDataConfig{Value: types.ModelInvocationJobS3InputDataConfig{
			S3Uri: aws.String(s.InputURI), S3InputFormat: types.S3InputFormatJsonl}},
		OutputDataConfig: &types.ModelInvocationJobOutputDataConfigMemberS3OutputDataConfig{Value: types.ModelInvocationJobS3OutputDataConfig{
			S3Uri: aws.String(s.OutputURI)}},
		TimeoutDurationInHours: aws.Int32(int32(s.TimeoutHours)),
	})
	if err != nil {
		return "", fmt.Errorf("start run %s: %w", s.RunID, classify(err))
	}
	return aws.ToString(out.JobArn), nil
}

// Status is a model invocation job as Bedrock reports it.
type Status struct {
	State   types.ModelInvocationJobStatus
	Message string
	// Total, Processed, Succeeded and Failed count its records.
	Total, Processed, Succeeded, Failed int
}

// Ended reports whether the job will change no more.
func (s Status) Ended() bool {
	switch s.State {
	case types.ModelInvocationJobStatusCompleted, types.ModelInvocationJobStatusPartiallyCompleted,
		types.ModelInvocationJobStatusFailed, types.ModelInvocationJobStatusStopped,
		types.ModelInvocationJobStatusExpired:
		return true
	}
	return false
}

// Status reads the model invocation job arn.
func (r *Runs) Status(ctx context.Context, arn string) (Status, error) {
	out, err := r.client.GetModelInvocationJob(ctx, &bedrock.GetModelInvocationJobInput{JobIdentifier: aws.String(arn)})
	if err != nil {
		return Status{}, fmt.Errorf("read run job %s: %w", arn, classify(err))
	}
	return Status{State: out.Status, Message: aws.ToString(out.Message),
		Total: int(aws.ToInt64(out.TotalRecordCount)), Processed: int(aws.ToInt64(out.ProcessedRecordCount)),
		Succeeded: int(aws.ToInt64(out.SuccessRecordCount)), Failed: int(aws.ToInt64(out.ErrorRecordCount))}, nil
}

// Stop stops the model invocation job arn. A job that has ended already
// is not an error.
func (r *Runs) Stop(ctx context.Context, arn string) error {
	_, err := r.client.StopModelInvocationJob(ctx, &bedrock.StopModelInvocationJobInput{JobIdentifier: aws.String(arn)})
	var invalid *types.ValidationException
	if err != nil && !errors.As(err, &invalid) {
		return fmt.Errorf("stop run job %s: %w", arn, classify(err))
	}
	return nil
}

// RunID is the run id of a model invocation job named name, and whether
// the job is one of promptq's.
func RunID(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, JobNamePrefix)
	return id, ok && jobs.ValidID(id)
}

// classify gives Bedrock's throttling and outages the kind callers retry.
func classify(err error) error {
	var throttled *types.ThrottlingException
	var quota *types.ServiceQuotaExceededException
	var internal *types.InternalServerException
	switch {
	case errors.As(err, &throttled), errors.As(err, &quota):
		return &jobs.Error{Kind: jobs.KindRateLimited, Message: "Bedrock refused the run for its quota; it is tried again later.", Err: err}
	case errors.As(err, &internal):
		return &jobs.Error{Kind: jobs.KindUnavailable, Message: "Bedrock's batch inference is unavailable; it is tried again later.", Err: err}
	}
	return err
}
