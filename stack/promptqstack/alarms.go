package promptqstack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// newAlarms raises three alarms on an SNS topic, with an email
// subscription when cfg.AlarmEmail is set. Each fires on the first
// occurrence: none of them should ever happen in normal operation.
func newAlarms(s awscdk.Stack, cfg Config, dlq awssqs.Queue, worker awslambda.Function, api awsapigateway.RestApi) awssns.Topic {
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
		dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Maximum"),
		}))
	alarm("WorkerErrors",
		"promptq: the worker function failed (crash or timeout), not just a job.",
		worker.MetricErrors(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))
	alarm("Api5xx",
		"promptq: the API answered 5xx.",
		api.MetricServerError(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Sum"),
		}))
	return topic
}
