package promptqstack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/jobs"
)

// alarmSources are the resources the alarms and the dashboard watch.
type alarmSources struct {
	dlq         awssqs.Queue
	queues      map[jobs.Lane]awssqs.Queue
	worker      awslambda.Function
	workerLogs  awslogs.ILogGroup
	rescuer     awslambda.Function
	rescuerLogs awslogs.ILogGroup
	api         awsapigateway.RestApi
	apiLogs     awslogs.ILogGroup
	jobEvents   jobEvents
	// economy is nil when the stack has no economy lane.
	economy *economyLane
}

// newAlarms raises the alarms on an SNS topic, with an email subscription
// when cfg.AlarmEmail is set. Seven fire on the first occurrence: none of
// them should ever happen in normal operation. Two watch the lanes: a
// person waiting for an interactive job for a minute, and a bulk backlog
// whose oldest job waited cfg.BulkWaitAlarmMinutes. One watches the
// jobevents function falling behind the jobs table's stream.
func newAlarms(s awscdk.Stack, cfg Config, src alarmSources) awssns.Topic {
	topic := awssns.NewTopic(s, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("promptq alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy CDK writes for EnforceSSL replaces SNS's default
	// one, so CloudWatch's right to publish from this account is stated.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	if cfg.AlarmEmail != "" {
		// The address receives a confirmation mail first.
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))

	alarm := func(id, description string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(s, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			// No data means nothing happened.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	if e := src.economy; e != nil {
		alarm("EconomyCollectorErrors",
			"promptq: the economy collector failed (crash or timeout, or a collection that could not finish). Economy jobs wait until a collection succeeds; its log says why.",
			e.collector.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}))
		alarm("EconomyCompletionErrors",
			"promptq: the economy completion function failed; the runs it could not end are tried again at its next check (every 15 minutes). Its log says why.",
			e.completion.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}))
		// The completion's "economy run ended" line names the state
		// Bedrock gave the run's job.
		failed := awslogs.NewMetricFilter(s, jsii.String("EconomyRunsFailedFilter"), &awslogs.MetricFilterProps{
			LogGroup: e.completionLogs,
			FilterPattern: awslogs.FilterPattern_Literal(jsii.String(
				`{ ($.msg = "economy run ended") && (($.state = "Failed") || ($.state = "Expired") || ($.state = "PartiallyCompleted")) }`)),
			MetricNamespace: jsii.String("promptq"),
			MetricName:      jsii.String("EconomyRunsFailed"),
			MetricValue:     jsii.String("1"),
			Unit:            awscloudwatch.Unit_COUNT,
		})
		alarm("EconomyRunsFailed",
			"promptq: a run of the economy lane failed, expired or only partly completed at Bedrock. Its jobs without a result ran on the bulk lane or failed (economy_run_failed), as promptq:economy settings say; the completion's log names the run and Bedrock's message.",
			failed.Metric(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}))
	}
	alarm("DeadLetterQueueNotEmpty",
		"promptq: messages in the dead-letter queue. Inspect and replay with scripts/dlq.",
		src.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Maximum"),
		}))
	alarm("WorkerErrors",
		"promptq: the worker function failed (crash or timeout), not just a job.",
		src.worker.MetricErrors(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))
	alarm("Api5xx",
		"promptq: the API answered 5xx.",
		src.api.MetricServerError(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))
	alarm("RescuerErrors",
		"promptq: the rescuer function failed (crash or timeout), or could not rescue some stale job; the next run, 5 minutes later, tries again. Its log says which job and why.",
		src.rescuer.MetricErrors(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))

	alarm("JobEventsErrors",
		"promptq: the jobevents function failed (crash or timeout): finished jobs are announced late, from the same stream records, when it recovers.",
		src.jobEvents.fn.MetricErrors(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))
	alarm("JobEventsNotDelivered",
		"promptq: stream records of finished jobs could not be announced on the event bus after all retries and went to the JobEventsFailed queue. "+
			"Its messages name the shard and sequence numbers; the jobs are still in the table (docs/architecture.md, \"Completion events and metrics\").",
		src.jobEvents.failed.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Maximum"),
		}))
	// Iterator age is how old the newest record the function read was
	// when it read it: seconds normally, growing while it fails or lags.
	// The stream keeps records 24 hours.
	lag := awscloudwatch.NewAlarm(s, jsii.String("JobEventsBehind"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("promptq: the jobevents function is more than 10 minutes behind the jobs table's stream, for 15 minutes: " +
			"events and job metrics arrive late, and records older than 24 hours are lost. See its errors and logs."),
		Metric: src.jobEvents.fn.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(10 * 60 * 1000),
		EvaluationPeriods:  jsii.Number(3),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	lag.AddAlarmAction(action)
	lag.AddOkAction(action)

	// The rescuer's "rescue run finished" line (Lambda's JSON log format,
	// slog attributes at the top level) counts the jobs it sent again or
	// failed; the filter publishes that count only when it is not zero.
	rescued := awslogs.NewMetricFilter(s, jsii.String("JobsRescuedFilter"), &awslogs.MetricFilterProps{
		LogGroup:        src.rescuerLogs,
		FilterPattern:   awslogs.FilterPattern_NumberValue(jsii.String("$.rescued"), jsii.String(">"), jsii.Number(0)),
		MetricNamespace: jsii.String("promptq"),
		MetricName:      jsii.String("JobsRescued"),
		MetricValue:     jsii.String("$.rescued"),
		Unit:            awscloudwatch.Unit_COUNT,
	})
	alarm("JobsRescued",
		"promptq: jobs had lost their queue messages and the rescuer sent them again (or failed those on their last attempt). "+
			"In AWS that means the jobs queue was purged, a worker died on a job's last receive, or the API died between storing a job and queueing it. "+
			"The rescuer's log names each job (job_id); see docs/reliability.md, \"Rescuing jobs whose message was lost\".",
		rescued.Metric(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))

	// How long the oldest message of a lane's queue has waited. A job that
	// waits for the model's quota or its owner's fair share goes back as a
	// new message, so this is the wait of work no worker has looked at.
	wait := func(id, description string, lane jobs.Lane, threshold float64) {
		a := awscloudwatch.NewAlarm(s, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(description),
			Metric: src.queues[lane].MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
				Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
			}),
			Threshold: jsii.Number(threshold),
			// Five minutes in a row: a short burst is not an incident.
			EvaluationPeriods:  jsii.Number(5),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	wait("InteractiveJobsWaiting",
		"promptq: interactive jobs (people in the browser) have waited over a minute for a worker, for five minutes. "+
			"The interactive lane's share of the model's concurrency is too small for the people using it, or the worker fails: "+
			"see the README's operators section.", jobs.LaneInteractive, 60)
	wait("BulkBacklogNotKeepingUp",
		fmt.Sprintf("promptq: the bulk lane's oldest job has waited over %d minutes for a worker. "+
			"Batches arrive faster than the model's quota lets them run: raise the quota (and promptq:modelConcurrency / "+
			"promptq:modelTokensPerMinute), or expect hours of wait.", cfg.BulkWaitAlarmMinutes),
		jobs.LaneBulk, float64(cfg.BulkWaitAlarmMinutes*60))

	if cfg.StackTokensPerDay > 0 {
		// The API's "tokens reserved" line (one a submission) carries the
		// worst case it reserved; summed over 24 hours it is the demand
		// on the stack's daily budget, an early and safe-side measure
		// (a job ends charged at most what it reserved, unless retried).
		reserved := awslogs.NewMetricFilter(s, jsii.String("TokensReservedFilter"), &awslogs.MetricFilterProps{
			LogGroup:        src.apiLogs,
			FilterPattern:   awslogs.FilterPattern_NumberValue(jsii.String("$.tokens_reserved"), jsii.String(">"), jsii.Number(0)),
			MetricNamespace: jsii.String("promptq"),
			MetricName:      jsii.String("TokensReserved"),
			MetricValue:     jsii.String("$.tokens_reserved"),
			Unit:            awscloudwatch.Unit_COUNT,
		})
		threshold := float64(cfg.StackTokensPerDay) * float64(cfg.StackBudgetAlarmPercent) / 100
		a := awscloudwatch.NewAlarm(s, jsii.String("StackTokenBudget"), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("promptq: the tokens reserved in the last 24 hours passed %d%% of the stack's daily budget "+
				"(promptq:stackTokensPerDay = %d). At 100%% of a UTC day new jobs are refused (429 stack_tokens_per_day). "+
				"See the README's operators section.", cfg.StackBudgetAlarmPercent, cfg.StackTokensPerDay)),
			Metric: reserved.Metric(&awscloudwatch.MetricOptions{
				Period: awscdk.Duration_Days(jsii.Number(1)), Statistic: jsii.String("Sum"),
			}),
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	return topic
}
