package standin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/jobs"
)

// ReceiveAll drains the queue at url and returns the job messages in it,
// deleting each. It stops at the first empty receive, so it suits tests that
// know what they sent.
func ReceiveAll(ctx context.Context, client *sqs.Client, url string) ([]jobs.Message, error) {
	var out []jobs.Message
	for {
		res, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(url),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     0,
		})
		if err != nil {
			return out, fmt.Errorf("receive from %s: %w", url, err)
		}
		if len(res.Messages) == 0 {
			return out, nil
		}
		for _, m := range res.Messages {
			var msg jobs.Message
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil {
				return out, fmt.Errorf("message %s is not a job message: %w", aws.ToString(m.MessageId), err)
			}
			out = append(out, msg)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return out, fmt.Errorf("delete from %s: %w", url, err)
			}
		}
	}
}
