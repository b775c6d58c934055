package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Target is where the tool works: the lanes' queues, their dead-letter
// queue and the jobs table of a deployed stack or of the dev stack.
type Target struct {
	Name      string // for messages: "stack Promptq" or "dev stack (.local/dev.json)"
	Region    string
	QueueURLs sqsqueue.LaneURLs
	DLQURL    string
	Table     string

	// The dev stack's local endpoints; empty for AWS.
	SQSEndpoint      string
	DynamoDBEndpoint string
}

// The stack's CloudFormation outputs the tool reads (stack/promptqstack).
const (
	OutputInteractiveQueueURL = "InteractiveQueueUrl"
	OutputBulkQueueURL        = "BulkQueueUrl"
	OutputDLQURL              = "DeadLetterQueueUrl"
	OutputTable               = "TableName"
)

// DevTarget reads the dev stack's dev.json at path.
func DevTarget(path string) (Target, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Target{}, fmt.Errorf("%w: no %s", devinfo.ErrNotRunning, path)
	}
	if err != nil {
		return Target{}, fmt.Errorf("read %s: %w", path, err)
	}
	var info devinfo.Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Target{}, fmt.Errorf("read %s: %w", path, err)
	}
	t := Target{
		Name:             "dev stack (" + path + ")",
		Region:           info.Region,
		QueueURLs:        info.QueueURLs,
		DLQURL:           info.DLQURL,
		Table:            info.TableName,
		SQSEndpoint:      info.SQSEndpoint,
		DynamoDBEndpoint: info.DynamoDBEndpoint,
	}
	if t.QueueURLs[jobs.LaneInteractive] == "" || t.QueueURLs[jobs.LaneBulk] == "" || t.DLQURL == "" || t.Table == "" || t.SQSEndpoint == "" || t.DynamoDBEndpoint == "" {
		return Target{}, fmt.Errorf("%s lacks queue_urls (interactive and bulk), dlq_url, table_name, sqs_endpoint or dynamodb_endpoint", path)
	}
	return t, nil
}

// describeStacks is the CloudFormation call the tool makes.
type describeStacks interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var _ describeStacks = (*cloudformation.Client)(nil)

// StackTarget reads a deployed stack's outputs.
func StackTarget(ctx context.Context, cfn describeStacks, name, region string) (Target, error) {
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return Target{}, fmt.Errorf("describe stack %s in %s: %w", name, region, err)
	}
	if len(out.Stacks) == 0 {
		return Target{}, fmt.Errorf("describe stack %s in %s: no such stack", name, region)
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	t := Target{
		Name:   "stack " + name + " (" + region + ")",
		Region: region,
		QueueURLs: sqsqueue.LaneURLs{
			jobs.LaneInteractive: outputs[OutputInteractiveQueueURL],
			jobs.LaneBulk:        outputs[OutputBulkQueueURL],
		},
		DLQURL: outputs[OutputDLQURL],
		Table:  outputs[OutputTable],
	}
	if t.QueueURLs[jobs.LaneInteractive] == "" || t.QueueURLs[jobs.LaneBulk] == "" || t.DLQURL == "" || t.Table == "" {
		return Target{}, fmt.Errorf("stack %s has no outputs %s, %s, %s and %s (status %s): is it promptq's stack, fully deployed?",
			name, OutputInteractiveQueueURL, OutputBulkQueueURL, OutputDLQURL, OutputTable, out.Stacks[0].StackStatus)
	}
	return t, nil
}

// devConfig is an SDK configuration for the dev stack's stand-ins: its
// region and dummy credentials (the stand-ins check none).
func devConfig(t Target) aws.Config {
	return aws.Config{
		Region:      t.Region,
		Credentials: credentials.NewStaticCredentialsProvider("promptq-dev", "promptq-dev", ""),
	}
}

// tool builds the Tool on t's resources with cfg's SDK configuration.
func (t Target) tool(awsCfg aws.Config, c Config) (*Tool, error) {
	sqsClient := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if t.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(t.SQSEndpoint)
		}
	})
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if t.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(t.DynamoDBEndpoint)
			// The dev stack's kumo sends no X-Amz-Crc32.
			o.DisableValidateResponseChecksum = true
		}
	})
	dl := sqsqueue.NewDeadLetterQueue(sqsClient, t.DLQURL)
	c.Store = dynamo.New(db, t.Table, dynamo.Options{})
	queues, err := sqsqueue.NewLanes(sqsClient, t.QueueURLs)
	if err != nil {
		return nil, err
	}
	c.Queue = queues
	c.DeadLetters = dl
	c.Redriver = dl
	c.DLQURL = t.DLQURL
	return New(c)
}
