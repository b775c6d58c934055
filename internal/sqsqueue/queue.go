package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/promptq/promptq/internal/awserr"
	"github.com/promptq/promptq/internal/jobs"
)

// Queue sends job messages to one SQS queue. It is safe for concurrent use.
type Queue struct {
	client *sqs.Client
	url    string
}

// New returns a queue that sends to queueURL.
func New(client *sqs.Client, queueURL string) *Queue {
	return &Queue{client: client, url: queueURL}
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.url }

// Send queues m.
func (q *Queue) Send(ctx context.Context, m jobs.Message) error {
	return q.SendAfter(ctx, m, 0)
}

// MaxDelay is the longest SQS lets a message wait before it is first
// visible (DelaySeconds).
const MaxDelay = 15 * time.Minute

// SendAfter queues m to become visible after d: rounded up to whole
// seconds, at most MaxDelay.
func (q *Queue) SendAfter(ctx context.Context, m jobs.Message, d time.Duration) error {
	body, err := encode(m)
	if err != nil {
		return err
	}
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:       aws.String(q.url),
		MessageBody:    aws.String(body),
		MessageGroupId: groupID(m),
		DelaySeconds:   delaySeconds(d),
	}); err != nil {
		return fmt.Errorf("send job %s: %w", m.JobID, translate(err))
	}
	return nil
}

// groupID makes the owner the message's tenant. On a standard queue a
// MessageGroupId turns on SQS fair queues: when one owner's messages pile
// up, SQS hands out the other owners' first, so one user's backlog does not
// delay everyone's jobs (ordering and exactly-once stay those of a
// standard queue).
func groupID(m jobs.Message) *string { return aws.String(m.Owner) }

func delaySeconds(d time.Duration) int32 {
	d = min(max(d, 0), MaxDelay)
	return int32((d + time.Second - 1) / time.Second)
}

// maxBatch is SQS's limit of entries per SendMessageBatch.
const maxBatch = 10

// SendBatch queues ms, ten to a request, and returns one error per message:
// nil for each one sent. An entry SQS failed through no fault of the request
// (SenderFault false: its side had a problem) is sent once more before its
// error is returned.
func (q *Queue) SendBatch(ctx context.Context, ms []jobs.Message) []error {
	if len(ms) == 1 {
		// SendMessage: the same price as a batch of one, and what the
		// queue's metrics and logs call a single send.
		return []error{q.Send(ctx, ms[0])}
	}
	errs := make([]error, len(ms))
	for start := 0; start < len(ms); start += maxBatch {
		end := min(start+maxBatch, len(ms))
		q.sendChunk(ctx, ms[start:end], errs[start:end])
	}
	return errs
}

// sendChunk sends up to ten messages, filling errs (parallel to ms).
func (q *Queue) sendChunk(ctx context.Context, ms []jobs.Message, errs []error) {
	var entries []types.SendMessageBatchRequestEntry
	for i, m := range ms {
		body, err := encode(m)
		if err != nil {
			errs[i] = err
			continue
		}
		// The index is the entry id, so a failed entry maps back to its
		// message; ids must be unique only within one request.
		entries = append(entries, types.SendMessageBatchRequestEntry{
			Id:             aws.String(strconv.Itoa(i)),
			MessageBody:    aws.String(body),
			MessageGroupId: groupID(m),
		})
	}
	for try := 1; len(entries) > 0; try++ {
		out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{
			QueueUrl: aws.String(q.url),
			Entries:  entries,
		})
		if err != nil {
			err = translate(err)
			for _, e := range entries {
				i, _ := strconv.Atoi(aws.ToString(e.Id))
				errs[i] = fmt.Errorf("send job %s: %w", ms[i].JobID, err)
			}
			return
		}
		var retry []types.SendMessageBatchRequestEntry
		for _, f := range out.Failed {
			i, err := strconv.Atoi(aws.ToString(f.Id))
			if err != nil || i < 0 || i >= len(ms) {
				continue // not an id we sent; cannot happen with SQS
			}
			errs[i] = entryError(ms[i], f)
			if !f.SenderFault && try == 1 {
				if e, ok := entryWithID(entries, aws.ToString(f.Id)); ok {
					retry = append(retry, e)
				}
			}
		}
		for _, s := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i >= 0 && i < len(ms) {
				errs[i] = nil
			}
		}
		entries = retry
	}
}

func entryWithID(entries []types.SendMessageBatchRequestEntry, id string) (types.SendMessageBatchRequestEntry, bool) {
	for _, e := range entries {
		if aws.ToString(e.Id) == id {
			return e, true
		}
	}
	return types.SendMessageBatchRequestEntry{}, false
}

// entryError describes one failed batch entry. A failure on SQS's side is
// KindUnavailable, so callers treat it as worth retrying later.
func entryError(m jobs.Message, f types.BatchResultErrorEntry) error {
	err := fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
	if !f.SenderFault {
		err = unavailable(err)
	}
	return fmt.Errorf("send job %s: %w", m.JobID, err)
}

// Depth returns the queue's approximate message counts.
func (q *Queue) Depth(ctx context.Context) (Depth, error) {
	return QueueDepth(ctx, q.client, q.url)
}

// ChangeVisibility hides a received message for d from now (0 makes it
// visible at once), e.g. to back off before a retry. d is cut to whole
// seconds within SQS's 0..12 h.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	d = min(max(d, 0), 12*time.Hour)
	if _, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:      aws.String(q.url),
		ReceiptHandle: aws.String(receiptHandle),
		// Whole seconds, rounded up: a sub-second backoff must not become
		// an immediate redelivery.
		VisibilityTimeout: int32((d + time.Second - 1) / time.Second),
	}); err != nil {
		return fmt.Errorf("change message visibility: %w", translate(err))
	}
	return nil
}

func encode(m jobs.Message) (string, error) {
	if m.JobID == "" || m.Owner == "" {
		return "", fmt.Errorf("send job %q: a message needs a job id and an owner", m.JobID)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("send job %s: %w", m.JobID, err)
	}
	return string(b), nil
}

// ParseMessage decodes a message body as Send wrote it. A body that is not
// one (wrong shape, missing fields) is an error: such a message can never
// succeed and belongs in the dead-letter queue.
func ParseMessage(body string) (jobs.Message, error) {
	var m jobs.Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return jobs.Message{}, fmt.Errorf("parse queue message: %w", err)
	}
	if m.JobID == "" || m.Owner == "" {
		return jobs.Message{}, errors.New("parse queue message: job_id and owner are required")
	}
	return m, nil
}

// translate turns an error the SDK gave up retrying into KindUnavailable,
// and leaves the rest (a missing queue, a bad request) as they are.
func translate(err error) error {
	var (
		throttled *types.RequestThrottled
		overLimit *types.OverLimit
		kms       *types.KmsThrottled
	)
	switch {
	case errors.As(err, &throttled), errors.As(err, &overLimit), errors.As(err, &kms),
		awserr.Transient(err):
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &jobs.Error{
		Kind:    jobs.KindUnavailable,
		Message: "The job queue is busy or unreachable; try again shortly.",
		Err:     err,
	}
}
