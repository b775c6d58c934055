package promptqstack

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/quota"
)

// The economy lane's schedules and sizes.
const (
	// The collector gathers the economy queue and starts runs every 5
	// minutes: a run waits hours anyway.
	collectEveryMinutes = 5
	// The completion function checks the open runs every 15 minutes, the
	// safety net for Bedrock's best-effort events.
	checkEveryMinutes      = 15
	economyTimeoutMinutes  = 15
	economyMemoryMB        = 512
	economyRunFilesPrefix  = "runs/"
	economyQueueRetainDays = 14
)

// economyTableActions are the economy functions' table actions: jobs'
// conditional updates (claims for a run, results, reroutes) and, in
// transactions, their budget counters; the waiting jobs', runs' and their
// jobs' items (puts and deletes, in batches); Queries only on the economy
// lane's and users' partitions (newEconomy).
var economyTableActions = []string{
	"dynamodb:BatchWriteItem",
	"dynamodb:ConditionCheckItem",
	"dynamodb:DeleteItem",
	"dynamodb:GetItem",
	"dynamodb:PutItem",
	"dynamodb:UpdateItem",
}

// economyLane is the economy lane's resources.
type economyLane struct {
	queue          awssqs.Queue
	bucket         awss3.Bucket
	serviceRole    awsiam.Role
	collector      awslambda.Function
	completion     awslambda.Function
	completionLogs awslogs.LogGroup
}

// newEconomy builds the economy lane (internal/economy): its queue, which
// the API sends economy jobs to and no worker reads; the run files'
// bucket; the service role Bedrock runs the model invocation jobs as; the
// collector, on a schedule; and the completion function, on Bedrock's
// state-change events of promptq's jobs and on a schedule.
func newEconomy(s awscdk.Stack, cfg Config, table awsdynamodb.Table, queues map[jobs.Lane]awssqs.Queue, logs awss3.Bucket) *economyLane {
	e := &economyLane{}
	e.queue = awssqs.NewQueue(s, jsii.String("EconomyQueue"), &awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(economyQueueRetainDays)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
	suppress(e.queue, nag("AwsSolutions-SQS3",
		"No worker reads the economy queue, so no message can fail there: the collector deletes each message it gathers into the table, and leaves one it could not read for its next run; a dead-letter queue would only hide messages from it."))

	e.bucket = awss3.NewBucket(s, jsii.String("EconomyRuns"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("economy-runs/"),
		// Run files hold prompts and answers: kept only as long as
		// operators may need them, then deleted.
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-run-files"),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(cfg.EconomyRetentionDays))),
		}},
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
	})

	jobArns := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":bedrock:"), awscdk.Aws_REGION(), jsii.String(":"),
		awscdk.Aws_ACCOUNT_ID(), jsii.String(":model-invocation-job/*"),
	})
	// Bedrock assumes it only for this account's model invocation jobs.
	e.serviceRole = awsiam.NewRole(s, jsii.String("EconomyServiceRole"), &awsiam.RoleProps{
		Description: jsii.String("promptq economy lane: Bedrock's batch inference reads run inputs and writes outputs"),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("bedrock.amazonaws.com"), nil).WithConditions(&map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike":      map[string]any{"aws:SourceArn": jobArns},
		}),
	})
	e.serviceRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("RunFiles"),
		Actions:   jsii.Strings("s3:GetObject", "s3:PutObject"),
		Resources: jsii.Strings(*e.bucket.ArnForObjects(jsii.String(economyRunFilesPrefix + "*"))),
	}))
	e.serviceRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ListRunFiles"),
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*e.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{economyRunFilesPrefix + "*"}}},
	}))
	modelArns, _ := modelARNs(s, cfg)
	e.serviceRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeAllowedModels"),
		Actions:   jsii.Strings("bedrock:InvokeModel"),
		Resources: jsii.Strings(modelArns...),
	}))
	suppress(e.serviceRole, nagFor("AwsSolutions-IAM5",
		"Run files are named by run ids made at run time, under the runs/ prefix of the lane's own bucket; the model statement names the allowed models, with a region wildcard only for inference profiles whose regions are not configured.",
		nagRegex(`/^Resource::<EconomyRuns[0-9A-F]+\.Arn>\/runs\/\*$/`),
		nagRegex(`/^Resource::arn:(<AWS::Partition>|aws[-a-z]*):bedrock:\*::foundation-model\/.*$/`)))

	env := queueEnv(map[string]*string{
		"PROMPTQ_TABLE":                     table.TableName(),
		"PROMPTQ_ECONOMY_BUCKET":            e.bucket.BucketName(),
		"PROMPTQ_ECONOMY_ROLE_ARN":          e.serviceRole.RoleArn(),
		"PROMPTQ_ECONOMY_MIN_RECORDS":       itoa(cfg.EconomyMinRecords),
		quota.QueueURLEnv(jobs.LaneEconomy): e.queue.QueueUrl(),
	}, queues)
	var collectorRole, completionRole awsiam.Role
	e.collector, collectorRole, _ = newFunction(s, functionSpec{
		id:          "CollectorFunction",
		description: "economy collector: gathers economy jobs into Bedrock batch inference runs",
		asset:       cfg.CollectorAsset,
		memoryMB:    economyMemoryMB,
		timeout:     awscdk.Duration_Minutes(jsii.Number(economyTimeoutMinutes)),
		env:         env,
	})
	e.completion, completionRole, e.completionLogs = newFunction(s, functionSpec{
		id:          "CompletionFunction",
		description: "economy completion: ends the jobs of Bedrock batch inference runs",
		asset:       cfg.CompletionAsset,
		memoryMB:    economyMemoryMB,
		timeout:     awscdk.Duration_Minutes(jsii.Number(economyTimeoutMinutes)),
		env:         env,
	})

	for _, role := range []awsiam.Role{collectorRole, completionRole} {
		allow(role, "JobsTable", economyTableActions, table.TableArn())
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("EconomyItemsAndJobOutput"),
			Actions:   jsii.Strings("dynamodb:Query"),
			Resources: jsii.Strings(*table.TableArn()),
			Conditions: &map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{
				jobstable.EconomyKey, jobstable.EconomyPrefix + "*", jobstable.RunPrefix + "*", jobstable.UserPrefix + "*",
			}}},
		}))
		// A job that leaves the economy lane goes to the bulk lane.
		queues[jobs.LaneBulk].Grant(role, jsii.String("sqs:SendMessage"))
		// Runs are started (the collector; the completion's check starts
		// one whose collector died), read and stopped; each as the one
		// service role.
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("Runs"),
			Actions:   jsii.Strings("bedrock:CreateModelInvocationJob", "bedrock:GetModelInvocationJob", "bedrock:StopModelInvocationJob"),
			Resources: jsii.Strings(append([]string{*jobArns}, modelArns...)...),
		}))
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("PassServiceRole"),
			Actions:    jsii.Strings("iam:PassRole"),
			Resources:  jsii.Strings(*e.serviceRole.RoleArn()),
			Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "bedrock.amazonaws.com"}},
		}))
		suppress(role, nagFor("AwsSolutions-IAM5",
			"Bedrock names a model invocation job by an id it makes at creation, so the runs' statement names this account's and region's jobs by a wildcard; the model statement names the allowed models (a region wildcard only for inference profiles whose regions are not configured); run files are under the bucket's runs/ prefix.",
			nagRegex(`/^Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:model-invocation-job\/\*$/`),
			nagRegex(`/^Resource::arn:(<AWS::Partition>|aws[-a-z]*):bedrock:\*::foundation-model\/.*$/`),
			nagRegex(`/^Resource::<EconomyRuns[0-9A-F]+\.Arn>\/runs\/\*$/`)))
	}
	e.queue.Grant(collectorRole, jsii.String("sqs:ReceiveMessage"), jsii.String("sqs:DeleteMessage"), jsii.String("sqs:ChangeMessageVisibility"))
	collectorRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteRunInputs"),
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: jsii.Strings(*e.bucket.ArnForObjects(jsii.String(economyRunFilesPrefix + "*"))),
	}))
	completionRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadRunOutputs"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: jsii.Strings(*e.bucket.ArnForObjects(jsii.String(economyRunFilesPrefix + "*"))),
	}))
	completionRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ListRunOutputs"),
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*e.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{economyRunFilesPrefix + "*"}}},
	}))

	// A collection or check that fails is not retried: the next one, a
	// few minutes later, does its work again.
	for _, fn := range []awslambda.Function{e.collector, e.completion} {
		fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{RetryAttempts: jsii.Number(0)})
	}
	awsevents.NewRule(s, jsii.String("CollectorSchedule"), &awsevents.RuleProps{
		Description: jsii.String("promptq: run the economy collector every " + strconv.Itoa(collectEveryMinutes) + " minutes"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(collectEveryMinutes))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(e.collector, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
	awsevents.NewRule(s, jsii.String("CompletionSchedule"), &awsevents.RuleProps{
		Description: jsii.String("promptq: check the economy lane's open runs every " + strconv.Itoa(checkEveryMinutes) + " minutes"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(checkEveryMinutes))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(e.completion, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
	// Bedrock puts its state changes on the default bus; only promptq's
	// jobs (named promptq-<run id>) reach the function.
	awsevents.NewRule(s, jsii.String("EconomyRunStateChange"), &awsevents.RuleProps{
		Description: jsii.String("promptq: Bedrock batch inference state changes of the economy lane's runs"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.bedrock"),
			DetailType: jsii.Strings("Batch Inference Job State Change"),
			Detail:     &map[string]any{"batchJobName": []any{map[string]any{"prefix": jobs.RunJobNamePrefix}}},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(e.completion, &awseventstargets.LambdaFunctionProps{
			// A missed event is caught by the schedule's check.
			RetryAttempts: jsii.Number(2),
		})},
	})
	return e
}

// wire lets the API send economy jobs to the lane's queue (and count it:
// a replay sends a job's message again only while the queue holds none
// waiting), and the rescuer send a stale economy job there again.
func (e *economyLane) wire(api, rescuer awslambda.Function) {
	for _, fn := range []awslambda.Function{api, rescuer} {
		fn.AddEnvironment(jsii.String(quota.QueueURLEnv(jobs.LaneEconomy)), e.queue.QueueUrl(), nil)
	}
	e.queue.Grant(api, jsii.String("sqs:SendMessage"), jsii.String("sqs:GetQueueAttributes"))
	e.queue.Grant(rescuer, jsii.String("sqs:SendMessage"))
}
