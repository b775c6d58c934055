package promptqstack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/jobs"
)

const (
	// The jobevents function puts at most ten events a PutEvents call and
	// writes a log line a job: 128 MB and a minute are plenty for a batch
	// of 100 records.
	jobEventsMemoryMB       = 128
	jobEventsTimeoutSeconds = 60
	jobEventsBatchSize      = 100
	// A record that still can't be announced after this many retries (the
	// batch halved each time, down to the one record) goes to the
	// on-failure queue rather than blocking the shard: bounded, and never
	// silent (the JobEventsNotDelivered alarm).
	jobEventsRetries = 10
)

// jobEvents is what newJobEvents makes.
type jobEvents struct {
	bus    awsevents.EventBus
	fn     awslambda.Function
	failed awssqs.Queue // the mapping's on-failure destination
}

// endedFilter is the event source mapping's filter: a job item whose status
// goes from queued or running to a terminal one. Lambda is invoked for
// nothing else (filtered records are not billed as invocations); the
// handler checks the same again, so the filter is an economy, not a
// correctness condition.
func endedFilter() map[string]any {
	var active, terminal []string
	for _, st := range []jobs.Status{jobs.StatusQueued, jobs.StatusRunning, jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusCancelled} {
		if st.Terminal() {
			terminal = append(terminal, string(st))
		} else {
			active = append(active, string(st))
		}
	}
	return map[string]any{
		"eventName": []string{"MODIFY"},
		"dynamodb": map[string]any{
			"OldImage": map[string]any{"status": map[string]any{"S": active}},
			"NewImage": map[string]any{"status": map[string]any{"S": terminal}},
		},
	}
}

// newJobEvents is the event bus of "Job finished" events and lambdas/
// jobevents, which the jobs table's stream feeds (docs/architecture.md,
// "Completion events and metrics").
//
// The bus is a custom one, so operators attach rules to promptq's events
// without seeing or touching the account's other traffic on the default
// bus, and the function's PutEvents right names this bus only.
func newJobEvents(s awscdk.Stack, cfg Config, table awsdynamodb.Table) jobEvents {
	bus := awsevents.NewEventBus(s, jsii.String("JobEventsBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(strings.ToLower(*s.StackName()) + "-jobs"),
		Description:  jsii.String("promptq: one \"Job finished\" event per job that ends (source promptq)"),
	})
	failed := awssqs.NewQueue(s, jsii.String("JobEventsFailed"), &awssqs.QueueProps{
		// The longest SQS allows. A message names the stream shard and
		// the sequence numbers that could not be announced; the stream
		// keeps records 24 hours (docs/architecture.md says how to recover).
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
	suppress(failed, nag("AwsSolutions-SQS3",
		"This queue is the on-failure destination of the jobevents stream mapping: it is itself where failures go, and its messages only point at stream records."))

	// Its metrics are EMF lines without a "level", which Lambda counts as
	// INFO: newFunction's INFO application log level lets them through.
	fn, role, _ := newFunction(s, functionSpec{
		id:          "JobEventsFunction",
		description: "jobevents: announces finished jobs on EventBridge and writes their metrics",
		asset:       cfg.JobEventsAsset,
		memoryMB:    jobEventsMemoryMB,
		timeout:     awscdk.Duration_Seconds(jsii.Number(jobEventsTimeoutSeconds)),
		env: map[string]*string{
			"PROMPTQ_EVENT_BUS": bus.EventBusName(),
		},
	})
	// PutEvents on this bus only.
	allow(role, "PutJobEvents", []string{"events:PutEvents"}, bus.EventBusArn())
	// The mapping reads the stream with the function's role: the four
	// actions of the DynamoDB developer guide's policy for a Lambda
	// function reading a stream, on this table's stream and no other
	// (table.grantStreamRead would put ListStreams on every resource).
	allow(role, "ReadJobsStream", []string{
		"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
	}, table.TableStreamArn())

	filter := endedFilter()
	esm := awslambda.NewEventSourceMapping(s, jsii.String("JobEventsStream"), &awslambda.EventSourceMappingProps{
		Target:         fn,
		EventSourceArn: table.TableStreamArn(),
		// From the oldest record the stream keeps: nothing that ended
		// between the stream's creation and the mapping's is missed.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(jobEventsBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(jobEventsRetries),
		OnFailure:               awslambdaeventsources.NewSqsDlq(failed),
		Filters:                 &[]*map[string]any{awslambda.FilterCriteria_Filter(&filter)},
	})
	// The mapping must not start before the role can read the stream.
	esm.Node().AddDependency(role)
	return jobEvents{bus: bus, fn: fn, failed: failed}
}
