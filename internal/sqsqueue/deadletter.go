package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	client *sqs.Client
	url    string
}

// NewDeadLetterQueue returns the dead-letter queue at url.
func NewDeadLetterQueue(client *sqs.Client, url string) *DeadLetterQueue {
	return &DeadLetterQueue{client: client, url: url}
}

// URL is the queue's URL.
func (d *DeadLetterQueue) URL() string { return d.url }

// DeadLetter is one received message of a dead-letter queue.
type DeadLetter struct {
	MessageID     string
	ReceiptHandle string // valid until the visibility timeout of this receive ends
	Body          string
	// SentAt is when the message was first sent (to the jobs queue: SQS
	// keeps the timestamp when it moves a message to the dead-letter queue).
	SentAt time.Time
	// ReceiveCount is SQS's ApproximateReceiveCount, this receive included.
	ReceiveCount int
}

// Depth is how many messages a queue holds, as SQS approximates it.
type Depth struct {
	Visible  int // ApproximateNumberOfMessages: waiting to be received
	InFlight int // ApproximateNumberOfMessagesNotVisible: received, not yet deleted or shown again
	Delayed  int // ApproximateNumberOfMessagesDelayed: sent with a delay that has not ended
}

// Depth returns the queue's approximate message counts.
func (d *DeadLetterQueue) Depth(ctx context.Context) (Depth, error) {
	return QueueDepth(ctx, d.client, d.url)
}

// QueueDepth returns the approximate message counts of the queue at url.
func QueueDepth(ctx context.Context, client *sqs.Client, url string) (Depth, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return Depth{}, fmt.Errorf("count messages of %s: %w", url, translate(err))
	}
	n := func(name types.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(name)])
		return v
	}
	return Depth{
		Visible:  n(types.QueueAttributeNameApproximateNumberOfMessages),
		InFlight: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:  n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}, nil
}

// Receive returns up to n (at most 10) messages, hidden from every other
// receiver for visibility (whole seconds, at least one). It waits up to a
// second for messages: a long poll asks every SQS server, where a short one
// may miss messages on a small queue. No message means the queue has none
// visible.
func (d *DeadLetterQueue) Receive(ctx context.Context, n int, visibility time.Duration) ([]DeadLetter, error) {
	out, err := d.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(d.url),
		MaxNumberOfMessages: int32(min(max(n, 1), 10)),
		VisibilityTimeout:   int32(max(visibility/time.Second, 1)),
		WaitTimeSeconds:     1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", d.url, translate(err))
	}
	letters := make([]DeadLetter, 0, len(out.Messages))
	for _, m := range out.Messages {
		l := DeadLetter{
			MessageID:     aws.ToString(m.MessageId),
			ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body:          aws.ToString(m.Body),
		}
		if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
			l.SentAt = time.UnixMilli(ms).UTC()
		}
		l.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		letters = append(letters, l)
	}
	return letters, nil
}

// Release makes received messages visible again at once. It tries every
// handle and returns the failures joined; a handle whose visibility
// timeout has already ended may fail, and its message is visible anyway.
func (d *DeadLetterQueue) Release(ctx context.Context, receiptHandles []string) error {
	var errs []error
	for start := 0; start < len(receiptHandles); start += maxBatch {
		chunk := receiptHandles[start:min(start+maxBatch, len(receiptHandles))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				ReceiptHandle:     aws.String(h),
				VisibilityTimeout: 0,
			}
		}
		out, err := d.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(d.url),
			Entries:  entries,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("release %d messages of %s: %w", len(chunk), d.url, translate(err)))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("release a message of %s: %s: %s", d.url, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

// Delete deletes a received message.
func (d *DeadLetterQueue) Delete(ctx context.Context, receiptHandle string) error {
	if _, err := d.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(d.url),
		ReceiptHandle: aws.String(receiptHandle),
	}); err != nil {
		return fmt.Errorf("delete a message of %s: %w", d.url, translate(err))
	}
	return nil
}

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
