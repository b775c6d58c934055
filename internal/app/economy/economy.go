// Package economy is the economy lane's functions' configuration (the
// collector's and the completion function's: one configuration, one lane),
// read from the environment once and validated ([FromEnv]), and its
// wiring ([New]): an internal/economy.Lane on the jobs table, the lanes'
// queues, the run files' bucket and Bedrock's batch inference.
// lambdas/collector, lambdas/completion and the dev runner build the lane
// here.
package economy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/app/appenv"
	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/economy"
	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/s3bucket"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Config is the economy functions' configuration (the collector's and
// the completion function's), read once from the environment by
// [FromEnv]; each field names its variable and default.
type Config struct {
	// Table is the jobs table. PROMPTQ_TABLE, required.
	Table string
	// QueueURLs are the lanes' queues, the economy lane's included
	// (PROMPTQ_ECONOMY_QUEUE_URL, required here): the collector drains
	// it, and both send rerouted jobs to the bulk lane's.
	QueueURLs sqsqueue.LaneURLs
	// Bucket holds the run files. PROMPTQ_ECONOMY_BUCKET, required.
	Bucket string
	// RoleARN is the service role Bedrock runs the jobs as.
	// PROMPTQ_ECONOMY_ROLE_ARN, required.
	RoleARN string
	// Limits are Bedrock's per-job limits, as the account's Service
	// Quotas give them: PROMPTQ_ECONOMY_MIN_RECORDS (default 100),
	// PROMPTQ_ECONOMY_MAX_RECORDS (50,000), PROMPTQ_ECONOMY_MAX_FILE_MB
	// (1,024) and PROMPTQ_ECONOMY_MAX_JOB_MB (5,120).
	Limits bedrockbatch.Limits
	// MaxWait is how long a model's jobs wait for enough others to fill a
	// run before they run on the bulk lane. PROMPTQ_ECONOMY_MAX_WAIT,
	// default 1h (keep it below the rescuer's PROMPTQ_RESCUE_AFTER).
	MaxWait time.Duration
	// TimeoutHours is each run's TimeoutDurationInHours.
	// PROMPTQ_ECONOMY_TIMEOUT_HOURS, 24 to 168, default 72.
	TimeoutHours int
	// RerouteOnRunFailure: the jobs of a run that failed, expired or was
	// stopped go to the bulk lane ("bulk") or fail ("fail").
	// PROMPTQ_ECONOMY_ON_RUN_FAILURE, default bulk.
	RerouteOnRunFailure bool
}

// Defaults of Config.
const (
	DefaultMinRecords   = 100
	DefaultMaxRecords   = 50_000
	DefaultMaxFileMB    = 1024
	DefaultMaxJobMB     = 5 * 1024
	DefaultMaxWait      = time.Hour
	DefaultTimeoutHours = 72
)

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it.
func FromEnv(getenv func(string) string) (Config, error) {
	s := Config{MaxWait: DefaultMaxWait, TimeoutHours: DefaultTimeoutHours, RerouteOnRunFailure: true}
	r := envvar.New(getenv)
	r.Required("PROMPTQ_TABLE", &s.Table)
	urls, err := appenv.LaneURLs(getenv)
	r.Add(err)
	s.QueueURLs = urls
	if urls != nil && urls[jobs.LaneEconomy] == "" {
		r.Add(fmt.Errorf("PROMPTQ_ECONOMY_QUEUE_URL is required"))
	}
	r.Required("PROMPTQ_ECONOMY_BUCKET", &s.Bucket)
	r.Required("PROMPTQ_ECONOMY_ROLE_ARN", &s.RoleARN)
	minRecords, maxRecords, fileMB, jobMB := DefaultMinRecords, DefaultMaxRecords, DefaultMaxFileMB, DefaultMaxJobMB
	r.Int("PROMPTQ_ECONOMY_MIN_RECORDS", &minRecords, 1, envvar.NoMax)
	r.Int("PROMPTQ_ECONOMY_MAX_RECORDS", &maxRecords, 1, envvar.NoMax)
	r.Int("PROMPTQ_ECONOMY_MAX_FILE_MB", &fileMB, 1, envvar.NoMax)
	r.Int("PROMPTQ_ECONOMY_MAX_JOB_MB", &jobMB, 1, envvar.NoMax)
	s.Limits = bedrockbatch.Limits{MinRecords: minRecords, MaxRecords: maxRecords,
		MaxFileBytes: int64(fileMB) << 20, MaxJobBytes: int64(jobMB) << 20}
	r.Duration("PROMPTQ_ECONOMY_MAX_WAIT", &s.MaxWait, time.Second, 0)
	r.Int("PROMPTQ_ECONOMY_TIMEOUT_HOURS", &s.TimeoutHours, 24, 168)
	onFailure := "bulk"
	r.String("PROMPTQ_ECONOMY_ON_RUN_FAILURE", &onFailure)
	switch onFailure {
	case "bulk", "fail":
		s.RerouteOnRunFailure = onFailure == "bulk"
	default:
		r.Add(fmt.Errorf(`PROMPTQ_ECONOMY_ON_RUN_FAILURE=%q: want "bulk" or "fail"`, onFailure))
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if err := s.Limits.Validate(); err != nil {
		return Config{}, fmt.Errorf("PROMPTQ_ECONOMY_MIN_RECORDS, _MAX_RECORDS, _MAX_FILE_MB, _MAX_JOB_MB: %w", err)
	}
	return s, nil
}

// Clients are the AWS clients the economy functions use. The caller
// builds them.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	S3       *s3.Client
	Bedrock  *bedrock.Client
}

// New builds the economy lane s describes.
func New(_ context.Context, s Config, c Clients, logger *slog.Logger) (*economy.Lane, error) {
	lanes, err := sqsqueue.NewLanes(c.SQS, s.QueueURLs)
	if err != nil {
		return nil, fmt.Errorf("economy: %w", err)
	}
	if !lanes.Has(jobs.LaneEconomy) {
		return nil, fmt.Errorf("economy: the economy lane has no queue")
	}
	limits := s.Limits
	return economy.New(economy.Config{
		Limits:              func(string) bedrockbatch.Limits { return limits },
		MaxWait:             s.MaxWait,
		TimeoutHours:        s.TimeoutHours,
		RerouteOnRunFailure: s.RerouteOnRunFailure,
		Now:                 time.Now,
		Logger:              logger,
	}, economy.Deps{
		Store:  dynamo.New(c.DynamoDB, s.Table, dynamo.Options{}),
		Intake: sqsqueue.NewReceiver(c.SQS, s.QueueURLs[jobs.LaneEconomy]),
		Lanes:  lanes,
		Files:  s3bucket.New(c.S3, s.Bucket),
		Runs:   bedrockbatch.NewRuns(c.Bedrock, s.RoleARN),
	}), nil
}

// Setup is what both economy Lambdas build at start, in the shape of every
// binary's setup: the configuration read with getenv (os.Getenv), the
// clients of the default AWS configuration, and New.
func Setup(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*economy.Lane, error) {
	cfg, err := FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return New(ctx, cfg, Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		S3:       s3.NewFromConfig(awsCfg),
		Bedrock:  bedrock.NewFromConfig(awsCfg),
	}, logger)
}
