package promptqstack

import (
	"regexp"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// The DynamoDB item actions each function may use on the jobs table, and
// nothing else (no Scan, no table administration), as internal/dynamo calls
// them. The writes in a TransactWriteItems call are
// authorized as the individual PutItem / UpdateItem / DeleteItem actions.
var (
	// Create (a conditional put, or a transaction of two with an
	// Idempotency-Key), read one, list (Query), cancel (update),
	// enqueue_failed (an update and, in a transaction, deleting the
	// idempotency record), the per-user limit counters (conditional
	// updates in a transaction), POST /generate/batch (BatchGetItem of the
	// idempotency records, BatchWriteItem of jobs without a key), and
	// giving back what entries whose writes failed reserved, each only if
	// its job does not exist (ConditionCheckItem, in the transaction that
	// moves the counters: a write reported failed may have landed).
	apiTableActions = []string{
		"dynamodb:BatchGetItem",
		"dynamodb:BatchWriteItem",
		"dynamodb:ConditionCheckItem",
		"dynamodb:DeleteItem",
		"dynamodb:GetItem",
		"dynamodb:PutItem",
		"dynamodb:Query",
		"dynamodb:UpdateItem",
	}
	// Read the job, then claim, progress, finish and release: all
	// conditional updates. The same two keep the fair shares (a user's
	// slots in a lane, who was active in it lately and how many of their
	// messages wait: LANE# items)
	// and the models' pace (PACE# items); reading who is active in a lane
	// is a Query, allowed on LANE# partitions only (newWorkerFunction).
	workerTableActions = []string{
		// PutItem for the job's output chunks: alone, fenced by the
		// attempt that writes them, when the text only grew; in a
		// transaction with the update (or ConditionCheckItem) of the job
		// item that holds the worker's claim otherwise.
		"dynamodb:ConditionCheckItem",
		"dynamodb:GetItem",
		"dynamodb:PutItem",
		"dynamodb:UpdateItem",
	}
	// The rescuer reads a job when a conditional requeue or fail finds it
	// changed, and requeues or fails stale jobs: conditional updates. Its
	// Scan is on the active index only (see newRescuerFunction).
	rescuerTableActions = []string{
		"dynamodb:GetItem",
		"dynamodb:UpdateItem",
	}
	// Converse and ConverseStream are authorized as these two.
	bedrockActions = []string{
		"bedrock:InvokeModel",
		"bedrock:InvokeModelWithResponseStream",
	}
)

type functionSpec struct {
	id          string
	description string
	asset       string
	memoryMB    float64
	timeout     awscdk.Duration
	env         map[string]*string
}

// newFunction makes a Go Lambda on provided.al2023/arm64 with its own role
// and log group. The role starts empty: no AWS managed policy, only log
// writes to this function's own log group; callers add the rest.
func newFunction(s awscdk.Stack, spec functionSpec) (awslambda.Function, awsiam.Role, awslogs.LogGroup) {
	logs := awslogs.NewLogGroup(s, jsii.String(spec.id+"Logs"), &awslogs.LogGroupProps{
		// A month of logs to debug with; older ones only cost storage.
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(s, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("promptq " + spec.description),
	})
	logs.Grant(role, jsii.String("logs:CreateLogStream"), jsii.String("logs:PutLogEvents"))

	fn := awslambda.NewFunction(s, jsii.String(spec.id), &awslambda.FunctionProps{
		Description: jsii.String("promptq " + spec.description),
		// Go binaries run on the OS-only runtime; Graviton is cheaper per
		// millisecond and `make build` cross-compiles for it.
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(spec.asset), nil),
		MemorySize:   jsii.Number(spec.memoryMB),
		Timeout:      spec.timeout,
		Environment:  &spec.env,
		Role:         role,
		LogGroup:     logs,
		// JSON logs: slog's records arrive as fields CloudWatch Logs Insights
		// can query, with the request id added by lambdacontext.
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
	})
	// Lambda must not start before its role may write logs.
	fn.Node().AddDependency(role)
	return fn, role, logs
}

// allow adds one statement to role. (table.Grant would add the table's
// index/* to every statement once the table has an index.)
func allow(role awsiam.Role, sid string, actions []string, resources ...*string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}

// newAPIFunction is lambdas/api behind API Gateway.
func newAPIFunction(s awscdk.Stack, cfg Config, table awsdynamodb.Table, queues map[jobs.Lane]awssqs.Queue,
	pool awscognito.UserPool, client awscognito.UserPoolClient, webOrigin *string) (awslambda.Function, awslogs.LogGroup) {
	env := map[string]*string{
		"PROMPTQ_TABLE":        table.TableName(),
		"PROMPTQ_USER_POOL_ID": pool.UserPoolId(),
		"PROMPTQ_CLIENT_IDS":   client.UserPoolClientId(),
		// The access tokens' iss claim. Built here because the pool's
		// ProviderURL attribute lacks the https:// scheme.
		"PROMPTQ_COGNITO_ISSUER": awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("https://cognito-idp."), awscdk.Aws_REGION(), jsii.String("."),
			awscdk.Aws_URL_SUFFIX(), jsii.String("/"), pool.UserPoolId(),
		}),
		"PROMPTQ_WEB_ORIGIN":       webOrigin,
		"PROMPTQ_MODELS":           envList(cfg.Models),
		"PROMPTQ_DEFAULT_MODEL":    jsii.String(cfg.DefaultModel),
		"PROMPTQ_REVOCATION_CHECK": jsii.String("true"),
	}
	if cfg.StackTokensPerDay > 0 {
		env["PROMPTQ_STACK_TOKENS_PER_DAY"] = itoa(cfg.StackTokensPerDay)
	}
	fn, role, logs := newFunction(s, functionSpec{
		id:          "ApiFunction",
		description: "API: submit, list, read and cancel jobs",
		asset:       cfg.APIAsset,
		memoryMB:    apiMemoryMB,
		timeout:     awscdk.Duration_Seconds(jsii.Number(apiTimeoutSeconds)),
		env:         queueEnv(env, queues),
	})
	// The table only: budgets and the cap on active jobs are counters
	// (items) now, so the API reads no index.
	allow(role, "JobsTable", apiTableActions, table.TableArn())
	// SendMessage on each lane's queue (it also authorizes
	// SendMessageBatch, which POST /generate/batch uses), and
	// GetQueueAttributes: a replay sends a job's message again only while
	// its lane's queue holds none waiting. Not GetQueueUrl, which the
	// grantSendMessages helper would add; the URLs come from the env.
	for _, q := range laneQueues(queues) {
		q.Grant(role, jsii.String("sqs:SendMessage"), jsii.String("sqs:GetQueueAttributes"))
	}
	// No cognito-idp statement: GetUser (the revocation check) is
	// authorized by the access token it is called with, not by IAM.
	return fn, logs
}

// newWorkerFunction is lambdas/worker, fed by each lane's queue.
// It returns the function and its log group, where the throttles metric
// filter reads.
func newWorkerFunction(s awscdk.Stack, cfg Config, table awsdynamodb.Table, queues map[jobs.Lane]awssqs.Queue) (awslambda.Function, awslogs.LogGroup) {
	env := map[string]*string{
		"PROMPTQ_TABLE": table.TableName(),
		// The worker fails a job for good on its last receive instead of
		// letting it drift to the DLQ still "queued".
		"PROMPTQ_MAX_RECEIVE_COUNT": itoa(cfg.MaxReceiveCount),
		"PROMPTQ_MODEL_PROVIDER":    jsii.String("bedrock"),
		"PROMPTQ_FAIR_SHARES":       jsii.String(strconv.FormatBool(cfg.FairShares)),
	}
	// The lanes' concurrencies, which each user's fair share is of, and
	// the tokens-per-minute pace, from the one quota the mappings below
	// are sized from.
	for k, v := range cfg.Quota.Env() {
		env[k] = jsii.String(v)
	}
	fn, role, logs := newFunction(s, functionSpec{
		id:          "WorkerFunction",
		description: "worker: runs queued jobs on Bedrock",
		asset:       cfg.WorkerAsset,
		memoryMB:    workerMemoryMB,
		timeout:     awscdk.Duration_Minutes(jsii.Number(workerTimeoutMinutes)),
		env:         queueEnv(env, queues),
	})
	allow(role, "JobsTable", workerTableActions, table.TableArn())
	// Who is active in a lane, for the fair shares, a model's seats, and a
	// claimed job's output chunks, to continue its text: Queries of lanes',
	// models' seats' and users' partitions only (not the models' pace
	// items).
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("LaneUsersSeatsAndJobOutput"),
		Actions:   jsii.Strings("dynamodb:Query"),
		Resources: jsii.Strings(*table.TableArn()),
		Conditions: &map[string]any{
			"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{
				jobstable.LanePrefix + "*", jobstable.CapacityPrefix + "*", jobstable.UserPrefix + "*"}},
		},
	}))
	arns, anyRegion := modelARNs(s, cfg)
	allow(role, "InvokeAllowedModels", bedrockActions, *jsii.Strings(arns...)...)
	if len(anyRegion) > 0 {
		var findings []any
		for _, m := range anyRegion {
			findings = append(findings, nagRegex(`/^Resource::arn:(<AWS::Partition>|aws[-a-z]*):bedrock:\*::foundation-model\/`+regexp.QuoteMeta(m)+`$/`))
		}
		suppress(role, nagFor("AwsSolutions-IAM5",
			"An inference profile whose destination regions are not configured (promptq:profileRegions) may route to its model in any region; the statement still names the one model. List the regions to remove the wildcard.",
			findings...))
	}

	for _, lane := range jobs.Lanes {
		q := queues[lane]
		// A job that must wait for the model's quota or its owner's fair
		// share goes back as a new message on its lane's queue, so that
		// waiting never uses up its receives.
		q.Grant(role, jsii.String("sqs:SendMessage"))
		// The event source mapping polls with the function's role: CDK
		// grants it ReceiveMessage, DeleteMessage, ChangeMessageVisibility,
		// GetQueueAttributes and GetQueueUrl on this queue. The worker
		// also counts the queue (GetQueueAttributes) to bound how long a
		// job waits for its owner's fair share.
		fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, &awslambdaeventsources.SqsEventSourceProps{
			// One job an invocation: a free slot starts the next job at
			// once, where a batch would hold its slot until its longest
			// job ended, and the lane's concurrency is then exactly its
			// generations at once.
			BatchSize:         jsii.Number(1),
			MaxBatchingWindow: awscdk.Duration_Seconds(jsii.Number(0)),
			// The worker lists the message only when SQS should deliver it
			// again.
			ReportBatchItemFailures: jsii.Bool(true),
			// The interactive lane's share of the model's concurrency, and
			// all of it for the bulk lane, which may borrow what the
			// interactive lane is not using: the worker's seats of the
			// model, not the mappings, bound the generations at once, and
			// an interactive job takes a lent seat back.
			MaxConcurrency: jsii.Number(float64(cfg.Quota.MappingConcurrency(lane))),
		}))
	}
	return fn, logs
}

// newRescuerFunction is lambdas/rescuer, run on a schedule: it re-sends
// jobs that are queued or running but have shown no sign of life for
// longer than a live message can stay hidden, because their queue message
// was lost (docs/reliability.md, "Rescuing jobs whose message was lost").
// It returns the function and its log group, which the JobsRescued alarm
// reads.
func newRescuerFunction(s awscdk.Stack, cfg Config, table awsdynamodb.Table, queues map[jobs.Lane]awssqs.Queue) (awslambda.Function, awslogs.LogGroup) {
	fn, role, logs := newFunction(s, functionSpec{
		id:          "RescuerFunction",
		description: "rescuer: re-sends jobs whose queue message was lost",
		asset:       cfg.RescuerAsset,
		memoryMB:    rescuerMemoryMB,
		timeout:     awscdk.Duration_Minutes(jsii.Number(rescuerTimeoutMinutes)),
		env: queueEnv(map[string]*string{
			"PROMPTQ_TABLE": table.TableName(),
			// As the worker gets it: a stale job on its last attempt is
			// failed rather than sent again.
			"PROMPTQ_MAX_RECEIVE_COUNT": itoa(cfg.MaxReceiveCount),
			"PROMPTQ_RESCUE_AFTER":      jsii.String(strconv.Itoa(rescueAfterMinutes) + "m"),
		}, queues),
	})
	// Finding stale jobs scans the one index (the job items, with their
	// prompts and generated text, are never scanned).
	allow(role, "ScanActiveJobs", []string{"dynamodb:Scan"},
		jsii.String(*table.TableArn()+"/index/"+ActiveIndex))
	allow(role, "JobsTable", rescuerTableActions, table.TableArn())
	// SendMessage to re-send a job on its lane; GetQueueAttributes to leave
	// a lane's stale jobs alone while messages wait in its queue (a stale
	// job's message may be among them). Nothing on the dead-letter queue,
	// no Bedrock.
	for _, q := range laneQueues(queues) {
		q.Grant(role, jsii.String("sqs:SendMessage"), jsii.String("sqs:GetQueueAttributes"))
	}

	// A run that fails is not retried, neither by EventBridge nor by
	// Lambda's asynchronous retries, and a run that can't start (throttled)
	// is dropped once the next one is due: the next run scans again and
	// replaces it, and a retry would only overlap it. Failures raise the
	// RescuerErrors alarm instead.
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(rescueEveryMinutes)),
	})
	awsevents.NewRule(s, jsii.String("RescuerSchedule"), &awsevents.RuleProps{
		Description: jsii.String("promptq: run the rescuer every " + strconv.Itoa(rescueEveryMinutes) + " minutes"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(rescueEveryMinutes))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
			MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(rescueEveryMinutes - 1)),
		})},
	})
	return fn, logs
}

// modelARNs are the Bedrock resources invoking the allowed models touches:
// each inference profile in this account and region, and the foundation
// model behind it in every region the profile routes to. anyRegion lists
// the foundation models that needed a region wildcard.
func modelARNs(s awscdk.Stack, cfg Config) (arns, anyRegion []string) {
	seen := map[string]bool{}
	add := func(arn *string) {
		if !seen[*arn] {
			seen[*arn] = true
			arns = append(arns, *arn)
		}
	}
	for _, id := range cfg.Models {
		t := resolveModel(id, cfg.ProfileRegions)
		if !t.Profile {
			add(s.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("bedrock"), Account: jsii.String(""),
				Resource: jsii.String("foundation-model"), ResourceName: jsii.String(t.ID),
				ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
			}))
			continue
		}
		add(s.FormatArn(&awscdk.ArnComponents{
			Service:  jsii.String("bedrock"),
			Resource: jsii.String("inference-profile"), ResourceName: jsii.String(t.ID),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
		for _, region := range t.Regions {
			if region == "*" {
				anyRegion = append(anyRegion, t.FoundationModel)
			}
			add(s.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("bedrock"), Region: jsii.String(region), Account: jsii.String(""),
				Resource: jsii.String("foundation-model"), ResourceName: jsii.String(t.FoundationModel),
				ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
			}))
		}
	}
	return arns, anyRegion
}

// newPresignupFunction is lambdas/presignup, the user pool's pre-sign-up
// trigger when sign-up is limited to email domains. Cognito waits at most
// 5 seconds for a trigger; the function only compares a string, so it gets
// the smallest memory. Its role may write its own logs and nothing else:
// Cognito invokes it (the pool adds that permission) and it calls no AWS
// service.
func newPresignupFunction(s awscdk.Stack, cfg Config) awslambda.Function {
	fn, _, _ := newFunction(s, functionSpec{
		id:          "PresignupFunction",
		description: "pre-sign-up trigger: refuses addresses outside the allowed email domains",
		asset:       cfg.PresignupAsset,
		memoryMB:    presignupMemoryMB,
		timeout:     awscdk.Duration_Seconds(jsii.Number(presignupTimeoutSeconds)),
		env: map[string]*string{
			"PROMPTQ_SIGN_UP":         jsii.String(SignUpDomains),
			"PROMPTQ_SIGN_UP_DOMAINS": envList(cfg.SignUpDomains),
		},
	})
	return fn
}
