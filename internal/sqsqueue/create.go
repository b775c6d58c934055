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

	"github.com/promptq/promptq/internal/jobs"
)

// QueueOptions shape the queues CreateQueues makes. Zero fields take the
// defaults documented on each.
type QueueOptions struct {
	// MaxReceiveCount is how many receives a message gets before SQS moves
	// it to the dead-letter queue. Default 5.
	MaxReceiveCount int
	// VisibilityTimeout hides a received message this long (whole
	// seconds). Default: SQS's own, 30 s. For a Lambda trigger it should be
	// at least six times the function's timeout.
	VisibilityTimeout time.Duration
	// DLQRetention is how long the dead-letter queue keeps a message.
	// Default 14 days, SQS's maximum, to leave time to look.
	DLQRetention time.Duration
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.MaxReceiveCount <= 0 {
		o.MaxReceiveCount = 5
	}
	if o.DLQRetention <= 0 {
		o.DLQRetention = 14 * 24 * time.Hour
	}
	return o
}

// CreateQueues makes (or brings up to date) the dead-letter queue
// <name>-dlq and the queue name, which redrives to it after
// opts.MaxReceiveCount receives. Both have SQS-managed encryption. It is
// idempotent: run again with other options, it changes the queues'
// attributes to match.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, opts QueueOptions) (queueURL, dlqURL string, err error) {
	urls, dlqURL, err := createQueues(ctx, client, name+"-dlq", []string{name}, opts)
	if err != nil {
		return "", "", err
	}
	return urls[0], dlqURL, nil
}

// LaneQueueName is the name CreateLaneQueues gives lane's queue: name for
// the interactive lane (the one queue there was before lanes, so a dev
// stack's waiting messages carry on), name-<lane> for the others.
func LaneQueueName(name string, lane jobs.Lane) string {
	if lane.OrDefault() == jobs.LaneInteractive {
		return name
	}
	return name + "-" + string(lane)
}

// CreateLaneQueues is CreateQueues for every lane: a queue per lane
// (LaneQueueName), all redriving to the one dead-letter queue <name>-dlq.
func CreateLaneQueues(ctx context.Context, client *sqs.Client, name string, opts QueueOptions) (LaneURLs, string, error) {
	names := make([]string, len(jobs.Lanes))
	for i, lane := range jobs.Lanes {
		names[i] = LaneQueueName(name, lane)
	}
	urls, dlqURL, err := createQueues(ctx, client, name+"-dlq", names, opts)
	if err != nil {
		return nil, "", err
	}
	out := LaneURLs{}
	for i, lane := range jobs.Lanes {
		out[lane] = urls[i]
	}
	return out, dlqURL, nil
}

func createQueues(ctx context.Context, client *sqs.Client, dlqName string, names []string, opts QueueOptions) ([]string, string, error) {
	opts = opts.withDefaults()
	dlqURL, err := ensureQueue(ctx, client, dlqName, map[string]string{
		string(types.QueueAttributeNameMessageRetentionPeriod): seconds(opts.DLQRetention),
		string(types.QueueAttributeNameSqsManagedSseEnabled):   "true",
	})
	if err != nil {
		return nil, "", err
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(dlqURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, "", fmt.Errorf("get ARN of queue %s: %w", dlqName, translate(err))
	}
	redrive, err := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{attrs.Attributes[string(types.QueueAttributeNameQueueArn)], opts.MaxReceiveCount})
	if err != nil {
		return nil, "", err
	}
	main := map[string]string{
		string(types.QueueAttributeNameRedrivePolicy):        string(redrive),
		string(types.QueueAttributeNameSqsManagedSseEnabled): "true",
	}
	if opts.VisibilityTimeout > 0 {
		main[string(types.QueueAttributeNameVisibilityTimeout)] = seconds(opts.VisibilityTimeout)
	}
	urls := make([]string, len(names))
	for i, name := range names {
		if urls[i], err = ensureQueue(ctx, client, name, main); err != nil {
			return nil, "", err
		}
	}
	return urls, dlqURL, nil
}

// ensureQueue creates queue name with attrs, or sets attrs on it when it
// exists. SQS refuses to "create" an existing queue with other attributes
// (QueueNameExists), and some stand-ins return an existing queue without
// applying them, so attributes are always set explicitly afterwards.
func ensureQueue(ctx context.Context, client *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	var url string
	var exists *types.QueueNameExists
	switch {
	case err == nil:
		url = aws.ToString(out.QueueUrl)
	case errors.As(err, &exists):
		got, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("get URL of queue %s: %w", name, translate(err))
		}
		url = aws.ToString(got.QueueUrl)
	default:
		return "", fmt.Errorf("create queue %s: %w", name, translate(err))
	}
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
		return "", fmt.Errorf("set attributes of queue %s: %w", name, translate(err))
	}
	return url, nil
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

// EconomyRetention is how long the economy lane's queue keeps a message:
// SQS's longest, since only the collector reads it.
const EconomyRetention = 14 * 24 * time.Hour

// CreateEconomyQueue creates (or finds) the economy lane's queue,
// LaneQueueName(name, economy): SQS's longest retention and no dead-letter
// queue, since no worker reads it: the collector (internal/economy)
// deletes each message it gathers and leaves one it could not read for its
// next run.
func CreateEconomyQueue(ctx context.Context, client *sqs.Client, name string) (string, error) {
	return ensureQueue(ctx, client, LaneQueueName(name, jobs.LaneEconomy), map[string]string{
		string(types.QueueAttributeNameMessageRetentionPeriod): seconds(EconomyRetention),
		string(types.QueueAttributeNameSqsManagedSseEnabled):   "true",
	})
}
