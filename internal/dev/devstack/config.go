package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/app/appenv"
	"github.com/promptq/promptq/internal/app/presignup"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/signup"
	"github.com/promptq/promptq/internal/worker"
)

// Config is the dev runner's configuration. [FromEnv] reads it once; the
// defaults are documented on each field and in docs/configuration.md, and
// live only here.
//
// The API's and the worker's own settings (PROMPTQ_MAX_PROMPT_CHARS,
// PROMPTQ_LEASE, ...) pass through from Getenv to internal/app/api's and
// internal/app/worker's FromEnv, as in the Lambdas; the dev runner sets
// only what names its stand-ins (table, queue, pool, origins) and, with
// the local model, the model allow-list. The local model and its settings
// (PROMPTQ_LOCAL_*) are the dev runner's alone: no shipped package reads
// them.
type Config struct {
	// Root is the repo root: web/ is served from here. Default: the
	// nearest enclosing dir of the working dir whose go.mod is promptq's.
	Root string
	// Dir holds the stack's data (Dir/data), logs (Dir/logs), dev.json and
	// lock. PROMPTQ_DEV_DIR, default .local; relative to Root.
	Dir string

	// Ports on 127.0.0.1. 0 picks a free one (for tests).
	WebPort     int // PROMPTQ_DEV_WEB_PORT, default 8080: the web app and /config.json
	APIPort     int // PROMPTQ_DEV_API_PORT, default 8787: the API, as API Gateway serves it
	AWSPort     int // PROMPTQ_DEV_AWS_PORT, default 4566: DynamoDB and SQS (kumo)
	CognitoPort int // PROMPTQ_DEV_COGNITO_PORT, default 9229: the user pool (cognito-local)

	// Provider is the model: ProviderLocal or ProviderBedrock.
	// PROMPTQ_MODEL_PROVIDER, default "local". With "bedrock" only the
	// Bedrock client uses the default AWS configuration (your credentials
	// and region); everything else stays on the local endpoints.
	Provider string
	// Local paces the local model (Provider "local" only):
	// PROMPTQ_LOCAL_TOKENS_PER_SECOND, default 40; PROMPTQ_LOCAL_LATENCY
	// (time to first token), default 300ms. And gives it a quota, as
	// Bedrock has: beyond either it refuses calls with the throttling
	// error Bedrock gives. PROMPTQ_LOCAL_MAX_CONCURRENT and
	// PROMPTQ_LOCAL_TOKENS_PER_MINUTE, default 0: unlimited.
	Local localmodel.Options
	// MaxReceiveCount is the queue's redrive maxReceiveCount, and the
	// worker's. PROMPTQ_MAX_RECEIVE_COUNT, default 5.
	MaxReceiveCount int

	// Quota is the model's quota the lanes are sized from, as the stack's
	// (internal/quota): PROMPTQ_MODEL_CONCURRENCY (default 10, or
	// PROMPTQ_LOCAL_MAX_CONCURRENT when the local model has one),
	// PROMPTQ_MODEL_TOKENS_PER_MINUTE (default 0, or
	// PROMPTQ_LOCAL_TOKENS_PER_MINUTE), PROMPTQ_INTERACTIVE_SHARE (0.25).
	// Each lane's queue is polled as the stack's event source mapping
	// polls it: one message an invocation, its mapping concurrency at once
	// (quota.Quota.MappingConcurrency).
	// The worker reads the same variables; the dev runner sets them.
	Quota         quota.Quota
	WorkerTimeout time.Duration // PROMPTQ_DEV_WORKER_TIMEOUT: the worker's deadline, default 15m (the stack's)
	// PollWait is each ReceiveMessage's long poll. PROMPTQ_DEV_POLL_WAIT,
	// default 5s. Lambda waits 20 s, but kumo wakes a long poll only for
	// new messages, not for one whose visibility timeout ends, so a retry
	// would wait up to the whole poll.
	PollWait time.Duration
	// APITimeout is the API function's deadline. PROMPTQ_DEV_API_TIMEOUT,
	// default 10s (the stack's); API Gateway's own 29 s limit applies too.
	APITimeout time.Duration

	// The rescuer (internal/rescue), which the stack runs every 5 minutes.
	// RescueEvery: PROMPTQ_DEV_RESCUE_EVERY, default 1m, so a job stranded
	// by a restart of the stand-ins moves again soon after RescueAfter.
	// RescueAfter: PROMPTQ_RESCUE_AFTER, as the rescuer Lambda reads it;
	// default the queue's visibility timeout plus the worker's default
	// longest backoff (15m), 105m with the default worker timeout. It must
	// exceed the visibility timeout and the worker's PROMPTQ_BACKOFF_MAX.
	RescueEvery time.Duration
	RescueAfter time.Duration

	// The economy lane (internal/economy), against a local stand-in of
	// Bedrock's batch inference (internal/dev/localbatch):
	// EconomyEvery is how often the collector runs (the stack: every 5
	// minutes), PROMPTQ_DEV_ECONOMY_EVERY, default 5s; EconomyStartAfter
	// is how long a run waits before it runs (Bedrock's take minutes to
	// hours), PROMPTQ_DEV_ECONOMY_START_AFTER, default 3s;
	// BatchTokensPerSecond is the batch stand-in's model pace,
	// PROMPTQ_DEV_BATCH_TOKENS_PER_SECOND, default 2000. The lane's own
	// settings (PROMPTQ_ECONOMY_*) are read as the economy functions read
	// them, with dev defaults: runs of 5 to 500 jobs, a 20 s wait.
	EconomyEvery         time.Duration
	EconomyStartAfter    time.Duration
	BatchTokensPerSecond int

	// CognitoCode, if set, is every sign-up confirmation code, for
	// scripts that confirm blindly. PROMPTQ_DEV_COGNITO_CODE.
	CognitoCode string

	// SignUp is who may sign up, as the stack's promptq:signUp:
	// PROMPTQ_SIGN_UP (open, domains or invite; default open) and
	// PROMPTQ_SIGN_UP_DOMAINS, the variables lambdas/presignup reads.
	// cognito-local runs the pre-sign-up trigger (served by the runner);
	// it does not enforce invitation-only pools, so in invite mode the
	// same trigger refuses every self sign-up.
	SignUp signup.Policy

	// Getenv passes the API's and the worker's settings through.
	Getenv func(string) string
}

// The model providers of the dev runner.
const (
	ProviderLocal   = "local"   // internal/dev/localmodel, the default
	ProviderBedrock = "bedrock" // Amazon Bedrock, as the worker Lambda calls
)

// Visibility is the jobs queue's visibility timeout: six times the
// worker's timeout, as AWS advises for a Lambda trigger and the stack sets.
func (c Config) Visibility() time.Duration { return 6 * c.WorkerTimeout }

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it, naming every variable that is wrong.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Dir:                  devinfo.DefaultDir,
		WebPort:              8080,
		APIPort:              8787,
		AWSPort:              4566,
		CognitoPort:          9229,
		Provider:             ProviderLocal,
		Local:                localmodel.Options{TokensPerSecond: 40, Latency: 300 * time.Millisecond},
		MaxReceiveCount:      5,
		WorkerTimeout:        15 * time.Minute,
		PollWait:             5 * time.Second,
		APITimeout:           10 * time.Second,
		RescueEvery:          time.Minute,
		EconomyEvery:         5 * time.Second,
		EconomyStartAfter:    3 * time.Second,
		BatchTokensPerSecond: 2000,
		CognitoCode:          getenv("PROMPTQ_DEV_COGNITO_CODE"),
		Getenv:               getenv,
	}
	r := envvar.New(getenv)
	r.String("PROMPTQ_DEV_DIR", &c.Dir)
	r.Int("PROMPTQ_DEV_WEB_PORT", &c.WebPort, 0, 65535)
	r.Int("PROMPTQ_DEV_API_PORT", &c.APIPort, 0, 65535)
	r.Int("PROMPTQ_DEV_AWS_PORT", &c.AWSPort, 0, 65535)
	r.Int("PROMPTQ_DEV_COGNITO_PORT", &c.CognitoPort, 0, 65535)
	r.String("PROMPTQ_MODEL_PROVIDER", &c.Provider)
	r.Int("PROMPTQ_MAX_RECEIVE_COUNT", &c.MaxReceiveCount, 1, 1000)
	r.Duration("PROMPTQ_DEV_WORKER_TIMEOUT", &c.WorkerTimeout, time.Second, 15*time.Minute)
	r.Duration("PROMPTQ_DEV_POLL_WAIT", &c.PollWait, time.Second, 20*time.Second)
	r.Duration("PROMPTQ_DEV_API_TIMEOUT", &c.APITimeout, time.Second, 15*time.Minute)
	r.Duration("PROMPTQ_DEV_RESCUE_EVERY", &c.RescueEvery, time.Second, time.Hour)
	r.Duration("PROMPTQ_DEV_ECONOMY_EVERY", &c.EconomyEvery, 100*time.Millisecond, time.Hour)
	r.Duration("PROMPTQ_DEV_ECONOMY_START_AFTER", &c.EconomyStartAfter, 0, 24*time.Hour)
	r.Int("PROMPTQ_DEV_BATCH_TOKENS_PER_SECOND", &c.BatchTokensPerSecond, 1, envvar.NoMax)
	r.Duration("PROMPTQ_RESCUE_AFTER", &c.RescueAfter, time.Second, 24*time.Hour)
	if p, err := presignup.FromEnv(getenv); err != nil {
		r.Add(err)
	} else {
		c.SignUp = p.SignUp
	}
	if c.Provider != ProviderLocal && c.Provider != ProviderBedrock {
		r.Add(fmt.Errorf("PROMPTQ_MODEL_PROVIDER=%q: want %q or %q", c.Provider, ProviderLocal, ProviderBedrock))
	}
	readLocal(r, &c.Local, c.Provider == ProviderLocal)
	if q, err := appenv.Quota(quotaEnv(getenv)); err != nil {
		r.Add(err)
	} else {
		c.Quota = q
	}
	if c.WorkerTimeout%time.Second != 0 || c.PollWait%time.Second != 0 {
		r.Add(errors.New("PROMPTQ_DEV_WORKER_TIMEOUT and PROMPTQ_DEV_POLL_WAIT: want whole seconds"))
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = c.Visibility() + worker.DefaultConfig().BackoffMax
	} else if c.RescueAfter <= c.Visibility() {
		r.Add(fmt.Errorf("PROMPTQ_RESCUE_AFTER=%s: want more than the queue's visibility timeout, %s (6 × PROMPTQ_DEV_WORKER_TIMEOUT), or live jobs would be sent twice",
			c.RescueAfter, c.Visibility()))
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}

	wd, err := os.Getwd()
	if err != nil {
		return Config{}, fmt.Errorf("working dir: %w", err)
	}
	c.Root = repoRoot(wd)
	if !filepath.IsAbs(c.Dir) {
		c.Dir = filepath.Join(c.Root, c.Dir)
	}
	return c, nil
}

// readLocal reads the local model's settings into o, and checks them when
// the local model is the one that runs.
func readLocal(r *envvar.Reader, o *localmodel.Options, check bool) {
	r.Float("PROMPTQ_LOCAL_TOKENS_PER_SECOND", &o.TokensPerSecond)
	r.Duration("PROMPTQ_LOCAL_LATENCY", &o.Latency, 0, 0)
	r.Int("PROMPTQ_LOCAL_MAX_CONCURRENT", &o.MaxConcurrent, envvar.NoMin, envvar.NoMax)
	r.Int("PROMPTQ_LOCAL_TOKENS_PER_MINUTE", &o.TokensPerMinute, envvar.NoMin, envvar.NoMax)
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{o.TokensPerSecond > 0, "PROMPTQ_LOCAL_TOKENS_PER_SECOND must be positive"},
		{o.Latency >= 0, "PROMPTQ_LOCAL_LATENCY must not be negative"},
		{o.MaxConcurrent >= 0, "PROMPTQ_LOCAL_MAX_CONCURRENT must not be negative"},
		{o.TokensPerMinute >= 0, "PROMPTQ_LOCAL_TOKENS_PER_MINUTE must not be negative"},
	} {
		if check && !c.ok {
			r.Add(errors.New(c.what))
		}
	}
}

// quotaEnv is getenv with the quota taken from the local model's when it
// is not set: an operator sizes the lanes from the account's Bedrock quota,
// and the local model's knobs are the dev stack's quota.
func quotaEnv(getenv func(string) string) func(string) string {
	derived := map[string]string{}
	if getenv("PROMPTQ_MODEL_PROVIDER") == "" || getenv("PROMPTQ_MODEL_PROVIDER") == ProviderLocal {
		for from, to := range map[string]string{
			"PROMPTQ_LOCAL_MAX_CONCURRENT":    quota.EnvConcurrency,
			"PROMPTQ_LOCAL_TOKENS_PER_MINUTE": quota.EnvTokensPerMinute,
		} {
			if v := strings.TrimSpace(getenv(from)); v != "" && v != "0" && strings.TrimSpace(getenv(to)) == "" {
				derived[to] = v
			}
		}
	}
	return overlay(getenv, derived)
}

// repoRoot is the nearest dir from wd up whose go.mod is promptq's, or wd.
func repoRoot(wd string) string {
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/promptq/promptq\n")) {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}
