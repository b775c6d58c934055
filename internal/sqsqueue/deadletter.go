package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// DeadLetterQueue reads and empties a dead-letter queue for operators
// (internal/dlq). It is safe for concurrent use.
//
// SQS has no way to look at a message without receiving it: Receive hides
// what it returns for the visibility timeout it is given, and Release shows
// it again. Each receive also counts towards a message's
// ApproximateReceiveCount, which is harmless in a dead-letter queue (it has
// no redrive policy of its own).
type DeadLetterQueue struct {
	*Receiver
}

// NewDeadLetterQueue returns the dead-letter queue at url.
func NewDeadLetterQueue(client *sqs.Client, url string) *DeadLetterQueue {
	return &DeadLetterQueue{NewReceiver(client, url)}
}

// DeadLetter is one received message of a dead-letter queue.
type DeadLetter = Received

// ErrRedriveUnsupported means the SQS endpoint has no message move tasks
// (StartMessageMoveTask, ListMessageMoveTasks): some stand-ins lack them.
var ErrRedriveUnsupported = errors.New("this SQS endpoint does not support message move tasks")

// RedriveTask is a message move task of the dead-letter queue, as
// ListMessageMoveTasks reports it.
type RedriveTask struct {
	TaskHandle string // set only while the task runs
	Status     string // RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED
	Moved      int64  // messages moved so far
	ToMove     int64  // messages in the queue when the task started
	Failure    string // why a FAILED task failed
	StartedAt  time.Time
}

// Running reports whether the task is still moving messages.
func (t RedriveTask) Running() bool { return t.Status == "RUNNING" || t.Status == "CANCELLING" }

// StartRedrive starts SQS's own move of every message of the dead-letter
// queue back to the queue it came from (the lanes' queues share one
// dead-letter queue) and returns the task's handle. SQS allows one running
// task per source queue: a second start fails.
func (d *DeadLetterQueue) StartRedrive(ctx context.Context) (string, error) {
	src, err := QueueARN(ctx, d.client, d.url)
	if err != nil {
		return "", err
	}
	// Without a destination, SQS moves each message to its source queue.
	out, err := d.client.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{
		SourceArn: aws.String(src),
	})
	if err != nil {
		return "", fmt.Errorf("start moving messages from %s: %w", d.url, redriveError(err))
	}
	return aws.ToString(out.TaskHandle), nil
}

// RedriveTasks lists the dead-letter queue's recent message move tasks,
// newest first (SQS keeps those of the last 14 days).
func (d *DeadLetterQueue) RedriveTasks(ctx context.Context) ([]RedriveTask, error) {
	src, err := QueueARN(ctx, d.client, d.url)
	if err != nil {
		return nil, err
	}
	out, err := d.client.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{
		SourceArn:  aws.String(src),
		MaxResults: aws.Int32(10),
	})
	if err != nil {
		return nil, fmt.Errorf("list message move tasks of %s: %w", d.url, redriveError(err))
	}
	tasks := make([]RedriveTask, len(out.Results))
	for i, r := range out.Results {
		tasks[i] = RedriveTask{
			TaskHandle: aws.ToString(r.TaskHandle),
			Status:     aws.ToString(r.Status),
			Moved:      r.ApproximateNumberOfMessagesMoved,
			ToMove:     aws.ToInt64(r.ApproximateNumberOfMessagesToMove),
			Failure:    aws.ToString(r.FailureReason),
			StartedAt:  time.UnixMilli(r.StartedTimestamp).UTC(),
		}
	}
	return tasks, nil
}

// QueueARN returns the ARN of the queue at url.
func QueueARN(ctx context.Context, client *sqs.Client, url string) (string, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get ARN of %s: %w", url, translate(err))
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("get ARN of %s: the queue has no QueueArn attribute", url)
	}
	return arn, nil
}

// redriveError turns an endpoint's "no such operation" into
// ErrRedriveUnsupported (kumo answers InvalidAction; others
// UnknownOperationException or UnsupportedOperation).
func redriveError(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "InvalidAction", "UnknownOperationException", "UnsupportedOperation",
			"AWS.SimpleQueueService.UnsupportedOperation":
			return fmt.Errorf("%w (%s)", ErrRedriveUnsupported, apiErr.ErrorCode())
		}
	}
	return translate(err)
}
