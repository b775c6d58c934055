package promptqstack

import (
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
)

// alarmSources are the resources the alarms watch.
type alarmSources struct {
	dlq         awssqs.Queue
	worker      awslambda.Function
	rescuer     awslambda.Function
	rescuerLogs awslogs.ILogGroup
	api         awsapigateway.RestApi
}

// newAlarms raises five alarms on an SNS topic, with an email subscription
// when cfg.AlarmEmail is set. Each fires on the first occurrence: none of
// them should ever happen in normal operation.
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
	return topic
}
