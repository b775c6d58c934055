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
)

// Receiver receives, releases and deletes the messages of one queue, for
// the programs that drain a queue themselves rather than through Lambda's
// event source mapping: the DLQ tool (DeadLetterQueue) and the economy
// lane's collector.
type Receiver struct {
	client *sqs.Client
	url    string
}

// NewReceiver returns a Receiver of the queue at url.
func NewReceiver(client *sqs.Client, url string) *Receiver {
	return &Receiver{client: client, url: url}
}

// URL is the queue's URL.
func (r *Receiver) URL() string { return r.url }

// Received is one received message.
type Received struct {
	MessageID     string
	ReceiptHandle string // valid until the visibility timeout of this receive ends
	Body          string
	// SentAt is when the message was first sent (for a dead letter, to
	// the jobs queue: SQS keeps the timestamp when it moves a message to
	// the dead-letter queue).
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
func (r *Receiver) Depth(ctx context.Context) (Depth, error) {
	return QueueDepth(ctx, r.client, r.url)
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
func (r *Receiver) Receive(ctx context.Context, n int, visibility time.Duration) ([]Received, error) {
	out, err := r.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(r.url),
		MaxNumberOfMessages: int32(min(max(n, 1), 10)),
		VisibilityTimeout:   int32(max(visibility/time.Second, 1)),
		WaitTimeSeconds:     1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", r.url, translate(err))
	}
	letters := make([]Received, 0, len(out.Messages))
	for _, m := range out.Messages {
		l := Received{
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
func (r *Receiver) Release(ctx context.Context, receiptHandles []string) error {
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
		out, err := r.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(r.url),
			Entries:  entries,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("release %d messages of %s: %w", len(chunk), r.url, translate(err)))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("release a message of %s: %s: %s", r.url, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

// Delete deletes a received message.
func (r *Receiver) Delete(ctx context.Context, receiptHandle string) error {
	if _, err := r.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(r.url),
		ReceiptHandle: aws.String(receiptHandle),
	}); err != nil {
		return fmt.Errorf("delete a message of %s: %w", r.url, translate(err))
	}
	return nil
}

// DeleteBatch deletes received messages, maxBatch a call. It tries every
// handle and returns the failures joined.
func (r *Receiver) DeleteBatch(ctx context.Context, receiptHandles []string) error {
	var errs []error
	for start := 0; start < len(receiptHandles); start += maxBatch {
		chunk := receiptHandles[start:min(start+maxBatch, len(receiptHandles))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)}
		}
		out, err := r.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.url), Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %d messages of %s: %w", len(chunk), r.url, translate(err)))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("delete a message of %s: %s: %s", r.url, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}
