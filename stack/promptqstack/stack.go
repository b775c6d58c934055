package promptqstack

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/quota"
)

// Choices that are not configuration: each is explained where it is used.
const (
	// The jobs table's layout (internal/jobstable): its TTL attribute and
	// the sparse index of queued and running jobs that the API counts for
	// the per-user active-job cap and the rescuer scans for stale jobs
	// (docs/architecture.md).
	TTLAttribute         = jobstable.TTLAttribute
	ActiveIndex          = jobstable.ActiveIndex
	ActiveOwnerAttribute = jobstable.ActiveOwnerAttribute

	// The worker may run for 15 minutes, Lambda's longest: a model writes
	// 64K tokens (Claude Haiku 4.5's and Sonnet 4.5's maximum output) in
	// about 5 to 11 minutes at 100 to 200 tokens a second, so most long
	// answers end in one invocation. A slower one is stopped 10 s before
	// the deadline with its text kept and continues in the next
	// invocation (internal/worker), so no answer needs to fit.
	workerTimeoutMinutes = 15
	// SQS hides a received message for the visibility timeout. AWS asks for
	// at least six times the function timeout, so that a batch Lambda
	// retries after throttling is still invisible to other pollers: 90
	// minutes. It is also how long a job whose worker died waits for its
	// message to come back (its text kept, to be continued); the worker
	// never waits for it otherwise (it sets the visibility of every
	// message it gives back).
	visibilityTimeoutMinutes = 6 * workerTimeoutMinutes
	// The worker's longest backoff after a transient failure (its
	// PROMPTQ_BACKOFF_MAX default): a released job's message stays
	// invisible that long while the job sits queued.
	workerBackoffMaxMinutes = 15
	// The rescuer re-sends a job only after it has shown no sign of life
	// for longer than a live message can stay hidden: the queue's
	// visibility timeout (a worker holding it) and the worker's longest
	// backoff (a released job waiting), so that a message merely in
	// flight is not taken for a lost one.
	rescueAfterMinutes = visibilityTimeoutMinutes + workerBackoffMaxMinutes
	// The rescuer looks every 5 minutes: a lost message delays its job by
	// at most rescueAfterMinutes plus one period.
	rescueEveryMinutes = 5
	// A run is a GetQueueAttributes, a scan of the active index and a few
	// writes per stale job: seconds, normally. 5 minutes leaves room for a
	// large backlog without letting a stuck call run on.
	rescuerTimeoutMinutes = 5
	// The rescuer reads the index a page (at most 1 MB of small entries) at
	// a time and waits on DynamoDB and SQS: 256 MB is plenty.
	rescuerMemoryMB = 256

	// The API function answers from DynamoDB and SQS only and never waits
	// for the model: 10 s is ample and stays under API Gateway's 29 s
	// integration timeout, so a stuck call ends in the function (and its
	// log) rather than as a gateway timeout.
	apiTimeoutSeconds = 10
	// Lambda gives CPU in proportion to memory. The API's cost is per
	// millisecond of short requests, and more CPU shortens cold starts
	// (TLS, RS256 verification), so it gets 512 MB.
	apiMemoryMB = 512
	// The worker spends its time waiting on Bedrock's stream, billed by
	// memory for every second of it, so it gets Lambda's least. Measured
	// (make coldstart ARGS='-case worker', docs/benchmarks.md): a job
	// streamed for 10 s peaks at 18 MB resident and uses 1.3-1.6% of a
	// vCPU at 50 deltas a second, 5.2% at 200; 128 MB gives 7.2% of one
	// (Lambda's CPU follows memory, a vCPU at 1,769 MB).
	workerMemoryMB = 128

	// The pre-sign-up trigger compares an address's domain with a list:
	// the smallest memory, and Cognito's own 5-second limit on triggers.
	presignupMemoryMB       = 128
	presignupTimeoutSeconds = 5

	// The API stage serves one version of the contract.
	stageName = "v1"

	// accessTokenMinutes is the access (and ID) tokens' lifetime:
	// Cognito's minimum, which bounds how long a revoked token can still
	// read and cancel jobs (see newUsers).
	accessTokenMinutes = 5

	// Passwords: at least 12 characters, with every character class (the
	// site's config.json repeats this policy for the sign-up form).
	passwordMinLength = 12
)

// Stack is the synthesized stack with the constructs tests and outputs
// refer to.
type Stack struct {
	awscdk.Stack
	Table awsdynamodb.Table
	// Queues are the lanes' queues; they share the dead-letter queue.
	Queues   map[jobs.Lane]awssqs.Queue
	DLQ      awssqs.Queue
	UserPool awscognito.UserPool
	Client   awscognito.UserPoolClient
}

// New builds the promptq stack in scope. It returns an error when cfg is
// invalid or a Lambda binary is missing; it reads nothing else from the
// machine and needs no AWS access.
func New(scope constructs.Construct, id string, cfg Config, props *awscdk.StackProps) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("promptq stack config: %w", err)
	}
	if err := cfg.checkAssets(); err != nil {
		return nil, err
	}
	if props == nil {
		props = &awscdk.StackProps{}
	}
	if props.Description == nil {
		props.Description = jsii.String("promptq: asynchronous LLM generation on Bedrock (API, worker, rescuer, jobs table, queue, site)")
	}
	s := &Stack{Stack: awscdk.NewStack(scope, jsii.String(id), props)}

	// Data that users create is kept on delete only when asked for: the
	// default is a stack that `make destroy` removes completely.
	keep := awscdk.RemovalPolicy_DESTROY
	if cfg.DeletionProtection {
		keep = awscdk.RemovalPolicy_RETAIN
	}

	s.UserPool, s.Client = newUsers(s.Stack, cfg, keep)
	s.Table = newTable(s.Stack, cfg, keep)
	s.Queues, s.DLQ = newQueues(s.Stack, cfg)
	site := newSite(s.Stack, cfg)

	webOrigin := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://"), site.Distribution.DistributionDomainName(),
	})
	apiFn, apiLogs := newAPIFunction(s.Stack, cfg, s.Table, s.Queues, s.UserPool, s.Client, webOrigin)
	workerFn, workerLogs := newWorkerFunction(s.Stack, cfg, s.Table, s.Queues)
	rescuerFn, rescuerLogs := newRescuerFunction(s.Stack, cfg, s.Table, s.Queues)
	events := newJobEvents(s.Stack, cfg, s.Table)
	var econ *economyLane
	if cfg.Economy {
		econ = newEconomy(s.Stack, cfg, s.Table, s.Queues, site.Logs)
		econ.wire(apiFn, rescuerFn)
	}
	api := newRestAPI(s.Stack, cfg, apiFn, s.UserPool, webOrigin)

	// The API's base URL without a trailing slash, so clients can append
	// "/jobs" as the contract writes it.
	apiURL := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://"), api.RestApiId(), jsii.String(".execute-api."),
		awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX(),
		jsii.String("/"), api.DeploymentStage().StageName(),
	})
	cognitoEndpoint := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://cognito-idp."), awscdk.Aws_REGION(), jsii.String("."),
		awscdk.Aws_URL_SUFFIX(), jsii.String("/"),
	})
	siteConfig := map[string]any{
		"region":           awscdk.Aws_REGION(),
		"user_pool_id":     s.UserPool.UserPoolId(),
		"client_id":        s.Client.UserPoolClientId(),
		"api_url":          apiURL,
		"cognito_endpoint": cognitoEndpoint,
		// So the sign-up form shows the pool's real rules and the model
		// picker the allow-list (web/js/config.js).
		"password_policy": map[string]any{
			"min_length":        passwordMinLength,
			"require_lowercase": true,
			"require_uppercase": true,
			"require_digits":    true,
			"require_symbols":   true,
		},
		"models": catalogue.Entries(cfg.Models),
		// So a job's card can name its model before the API says.
		"default_model": cfg.DefaultModel,
		// How people get accounts, so the page offers sign-up only when
		// it can work.
		"sign_up": cfg.SignUp,
	}
	if cfg.SignUp == SignUpDomains {
		siteConfig["sign_up_domains"] = cfg.SignUpDomains
	}
	err := deploySite(s.Stack, cfg, site, siteConfig)
	if err != nil {
		return nil, err
	}
	apiOrigin := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://"), api.RestApiId(), jsii.String(".execute-api."),
		awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX(),
	})
	cognitoOrigin := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://cognito-idp."), awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX(),
	})
	if err := useSiteHeaders(s.Stack, cfg, site, apiOrigin, cognitoOrigin); err != nil {
		return nil, err
	}

	watched := alarmSources{
		dlq: s.DLQ, queues: s.Queues, worker: workerFn, workerLogs: workerLogs, rescuer: rescuerFn, rescuerLogs: rescuerLogs, api: api,
		apiLogs: apiLogs, jobEvents: events, economy: econ,
	}
	topic := newAlarms(s.Stack, cfg, watched)
	dashboard := newDashboard(s.Stack, watched)

	out := func(id, desc string, v *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{
			Description: jsii.String(desc), Value: v,
		})
	}
	out("SiteUrl", "the web app", webOrigin)
	out("ApiUrl", "the API's base URL (no trailing slash)", apiURL)
	out("Region", "the region everything runs in", awscdk.Aws_REGION())
	if econ != nil {
		out("EconomyQueueUrl", "the economy lane's queue (the collector reads it)", econ.queue.QueueUrl())
		out("EconomyBucketName", "the economy lane's run files", econ.bucket.BucketName())
	}
	out("UserPoolId", "the Cognito user pool", s.UserPool.UserPoolId())
	out("UserPoolClientId", "the Cognito app client (no secret)", s.Client.UserPoolClientId())
	out("CognitoEndpoint", "where clients call InitiateAuth", cognitoEndpoint)
	out("InteractiveQueueUrl", "the interactive lane's queue", s.Queues[jobs.LaneInteractive].QueueUrl())
	out("BulkQueueUrl", "the bulk lane's queue", s.Queues[jobs.LaneBulk].QueueUrl())
	out("DeadLetterQueueUrl", "the dead-letter queue (scripts/dlq)", s.DLQ.QueueUrl())
	out("TableName", "the jobs table", s.Table.TableName())
	out("AlarmTopicArn", "SNS topic the alarms notify", topic.TopicArn())
	out("EventBusName", "the EventBridge bus of \"Job finished\" events (docs/configuration.md)", events.bus.EventBusName())
	out("EventBusArn", "the EventBridge bus's ARN", events.bus.EventBusArn())
	out("DashboardName", "the CloudWatch dashboard (README: Operators)", dashboard)
	return s, nil
}

// newUsers is the Cognito user pool and the one app client the web app, the
// batch tool and outside clients share.
func newUsers(s awscdk.Stack, cfg Config, keep awscdk.RemovalPolicy) (awscognito.UserPool, awscognito.UserPoolClient) {
	// Who may get an account is the operator's choice (Config.SignUp):
	// self sign-up for anyone, for listed email domains (checked by the
	// pre-sign-up trigger before Cognito creates the user), or none
	// (invitation only: administrators create users, and Cognito emails
	// them a temporary password).
	var triggers *awscognito.UserPoolTriggers
	if cfg.SignUp == SignUpDomains {
		triggers = &awscognito.UserPoolTriggers{PreSignUp: newPresignupFunction(s, cfg)}
	}
	pool := awscognito.NewUserPool(s, jsii.String("Users"), &awscognito.UserPoolProps{
		// Email is the username; people who sign up themselves prove the
		// address with a code before they can sign in.
		SignInAliases:       &awscognito.SignInAliases{Email: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		SelfSignUpEnabled:   jsii.Bool(cfg.SignUp != SignUpInvite),
		LambdaTriggers:      triggers,
		UserInvitation: &awscognito.UserInvitationConfig{
			EmailSubject: jsii.String("Your promptq account"),
			EmailBody: jsii.String("An administrator made you a promptq account. Log in with the username {username} " +
				"and the temporary password {####}, then choose your own password."),
		},
		AutoVerify: &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		// A user may change their address (UpdateUserAttributes with their
		// access token: the app client writes email, since it signs people
		// up with it); the old one stays until a code sent to the new one
		// proves it, so a change never reaches an address nobody proved.
		// The pre-sign-up trigger's domain check does not run again: the
		// README says what that allows.
		KeepOriginal: &awscognito.KeepOriginalAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		UserVerification: &awscognito.UserVerificationConfig{
			EmailStyle:   awscognito.VerificationEmailStyle_CODE,
			EmailSubject: jsii.String("Your promptq verification code"),
			EmailBody:    jsii.String("Your promptq verification code is {####}"),
		},
		// Length does most of the work; the character classes are what
		// cdk-nag's COG1 asks for and cost users little with a password
		// manager.
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:            jsii.Number(passwordMinLength),
			RequireLowercase:     jsii.Bool(true),
			RequireUppercase:     jsii.Bool(true),
			RequireDigits:        jsii.Bool(true),
			RequireSymbols:       jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// TOTP for those who want it; no SMS (it costs per message and needs
		// an SNS role).
		Mfa:             awscognito.Mfa_OPTIONAL,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		// Essentials: free for the first 10,000 monthly active users.
		FeaturePlan:        awscognito.FeaturePlan_ESSENTIALS,
		DeletionProtection: jsii.Bool(cfg.DeletionProtection),
		RemovalPolicy:      keep,
	})
	suppress(pool,
		nag("AwsSolutions-COG2", "MFA is optional (TOTP) rather than required: required MFA at sign-up would turn away people trying the product; accounts that want it enable TOTP."),
		nag("AwsSolutions-COG8", "The Plus feature plan (threat protection) is billed per monthly active user; the product keeps idle cost at zero. Tokens are short-lived and revocable instead."),
	)

	client := pool.AddClient(jsii.String("Client"), &awscognito.UserPoolClientOptions{
		// A public client: the browser and the batch tool can't keep a
		// secret. Both log in with USER_PASSWORD_AUTH (web/js/cognito.js,
		// internal/batch), straight to Cognito over TLS; the README says
		// why that is safe. SRP is not enabled: nothing uses it, and a
		// flow nobody uses is one more way in. Refresh is added by CDK.
		GenerateSecret: jsii.Bool(false),
		AuthFlows: &awscognito.AuthFlow{
			UserPassword: jsii.Bool(true),
		},
		// No hosted UI or OAuth redirects: the site signs in through the
		// Cognito API.
		DisableOAuth:               jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		// The API asks Cognito whether a token was revoked only before it
		// spends money (POST /generate, /generate/batch); reading and
		// cancelling jobs trust the token's signature and expiry. So the
		// access token's lifetime is how long a revoked (logged-out,
		// stolen-and-revoked) token still reads and cancels: Cognito's
		// shortest, 5 minutes (docs/reliability.md, "Revoked tokens").
		// The web app and the batch tool refresh before expiry by
		// themselves; a refresh is one InitiateAuth, not billed on the
		// Essentials plan. A 30-day refresh token keeps people and
		// scripts signed in for a month.
		AccessTokenValidity:  awscdk.Duration_Minutes(jsii.Number(accessTokenMinutes)),
		IdTokenValidity:      awscdk.Duration_Minutes(jsii.Number(accessTokenMinutes)),
		RefreshTokenValidity: awscdk.Duration_Days(jsii.Number(30)),
		AuthSessionValidity:  awscdk.Duration_Minutes(jsii.Number(3)),
	})
	return pool, client
}

// newTable is the jobs table of docs/architecture.md.
func newTable(s awscdk.Stack, cfg Config, keep awscdk.RemovalPolicy) awsdynamodb.Table {
	t := awsdynamodb.NewTable(s, jsii.String("Jobs"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		// On demand: nothing to pay while idle, no capacity to plan.
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(TTLAttribute),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// AWS-owned key: encrypted at rest at no cost.
		Encryption:         awsdynamodb.TableEncryption_DEFAULT,
		DeletionProtection: jsii.Bool(cfg.DeletionProtection),
		RemovalPolicy:      keep,
		// Old and new images: the jobevents function announces a job
		// when its status goes from queued or running to a terminal one,
		// which only both images show.
		Stream: awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
	})
	// CloudFormation can't change an existing index's projection: a stack
	// deployed while the index was keys-only fails to update ("Cannot update
	// GSI's properties other than Provisioned Throughput ...") and rolls
	// back. New stacks are unaffected; an old one needs two deploys, the
	// first without the index (the API can't count active jobs until the
	// second) or a new index name in both the stack and internal/dynamo.
	t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:        jsii.String(ActiveIndex),
		PartitionKey:     &awsdynamodb.Attribute{Name: jsii.String(ActiveOwnerAttribute), Type: awsdynamodb.AttributeType_STRING},
		SortKey:          &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType:   awsdynamodb.ProjectionType_INCLUDE,
		NonKeyAttributes: jsii.Strings(jobstable.ActiveProjection()...),
	})
	return t
}

// newQueues is a queue per lane and the dead-letter queue they share.
func newQueues(s awscdk.Stack, cfg Config) (map[jobs.Lane]awssqs.Queue, awssqs.Queue) {
	dlq := awssqs.NewQueue(s, jsii.String("JobsDLQ"), &awssqs.QueueProps{
		// The longest SQS allows: time to look at what failed and replay it
		// with scripts/dlq.
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
	queues := map[jobs.Lane]awssqs.Queue{}
	for _, lane := range jobs.Lanes {
		// The interactive lane keeps the one queue there was before lanes
		// (its construct id), so an update keeps its messages.
		id := "JobsQueue"
		if lane != jobs.LaneInteractive {
			id = laneID(lane) + "Queue"
		}
		queues[lane] = awssqs.NewQueue(s, jsii.String(id), &awssqs.QueueProps{
			VisibilityTimeout: awscdk.Duration_Minutes(jsii.Number(visibilityTimeoutMinutes)),
			// Four days, the SQS default, written down: a message that can't
			// be processed that long has been to the DLQ long before (a job
			// that waits for the quota is sent as a new message each time).
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(4)),
			// SQS-managed keys: encryption at rest without KMS charges or key
			// policies.
			Encryption: awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL: jsii.Bool(true),
			DeadLetterQueue: &awssqs.DeadLetterQueue{
				Queue:           dlq,
				MaxReceiveCount: jsii.Number(float64(cfg.MaxReceiveCount)),
			},
		})
	}
	return queues, dlq
}

// laneID is lane as it appears in construct ids: "Interactive", "Bulk".
func laneID(lane jobs.Lane) string {
	s := string(lane)
	return strings.ToUpper(s[:1]) + s[1:]
}

// laneQueues lists the lanes' queues in the lanes' order.
func laneQueues(queues map[jobs.Lane]awssqs.Queue) []awssqs.Queue {
	out := make([]awssqs.Queue, 0, len(queues))
	for _, lane := range jobs.Lanes {
		out = append(out, queues[lane])
	}
	return out
}

// queueEnv adds the lanes' queue URLs to env as the functions read them.
func queueEnv(env map[string]*string, queues map[jobs.Lane]awssqs.Queue) map[string]*string {
	for _, lane := range jobs.Lanes {
		env[quota.QueueURLEnv(lane)] = queues[lane].QueueUrl()
	}
	return env
}

// envList is the comma list the functions read back with strings.Split.
func envList(values []string) *string { return jsii.String(strings.Join(values, ",")) }

func itoa(n int) *string { return jsii.String(strconv.Itoa(n)) }
