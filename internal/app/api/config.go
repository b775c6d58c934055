// Package api is the API Lambda's configuration, read from the environment
// once and validated ([FromEnv]), and its wiring ([New]): the clients and
// collaborators the handler needs. lambdas/api and the dev runner both
// build the API here, so the code paths are the same; only the endpoints
// differ. Every binary's app package (internal/app/...) has this shape.
package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/app/appenv"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Config is everything the API reads from its environment. The defaults
// are set here; docs/configuration.md repeats them for readers, and the
// lambdas package's TestConfigurationDocsListExactlyTheVariablesTheCodeReads
// holds its list of variables to the code (the worker's defaults too).
type Config struct {
	Region          string            // AWS_REGION
	Table           string            // PROMPTQ_TABLE (required)
	QueueURLs       sqsqueue.LaneURLs // PROMPTQ_INTERACTIVE_QUEUE_URL, PROMPTQ_BULK_QUEUE_URL (required)
	UserPoolID      string            // PROMPTQ_USER_POOL_ID
	Issuer          string            // PROMPTQ_COGNITO_ISSUER; default https://cognito-idp.<region>.amazonaws.com/<pool>
	JWKSURL         string            // PROMPTQ_JWKS_URL; default <issuer>/.well-known/jwks.json
	ClientIDs       []string          // PROMPTQ_CLIENT_IDS (required, comma-separated)
	WebOrigins      []string          // PROMPTQ_WEB_ORIGIN (comma-separated exact origins)
	Limits          jobs.Limits       // PROMPTQ_MODELS, PROMPTQ_DEFAULT_MODEL, PROMPTQ_MAX_PROMPT_CHARS
	RevocationCheck bool              // PROMPTQ_REVOCATION_CHECK, default true
	RevocationTTL   time.Duration     // PROMPTQ_REVOCATION_CACHE_TTL, default 60s
	JobTTL          time.Duration     // PROMPTQ_JOB_TTL, default 720h (30 days)
	// Per-user limits; 0 turns one off. PROMPTQ_LIMIT_SUBMISSIONS_PER_MINUTE
	// (default 60), PROMPTQ_LIMIT_TOKENS_PER_DAY (default 2,000,000),
	// PROMPTQ_LIMIT_ACTIVE_JOBS (default 1000),
	// PROMPTQ_LIMIT_REQUESTS_PER_SECOND (default 10: every request, polls
	// included, averaged over 10-second windows).
	UserLimits dynamo.Limits
	// StackTokensPerDay caps the tokens all users together commit in a
	// UTC day (PROMPTQ_STACK_TOKENS_PER_DAY; default 0, off).
	StackTokensPerDay int
	// StandIn: every model is answered by the local stand-in, so GET
	// /usage prices their tokens at $0 (httpapi.Config.StandIn). Set by
	// the dev stack when its model provider is local; no environment
	// variable sets it, so the Lambda always prices at list.
	StandIn bool
}

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it, naming every variable that is wrong.
func FromEnv(getenv func(string) string) (Config, error) {
	r := envvar.New(getenv)
	c := Config{
		Limits:          jobs.DefaultLimits(),
		RevocationCheck: true,
		RevocationTTL:   time.Minute,
		JobTTL:          jobs.DefaultJobTTL,
		UserLimits:      dynamo.Limits{SubmissionsPerMinute: 60, TokensPerDay: 2_000_000, ActiveJobs: 1000, RequestsPerSecond: 10},
	}
	r.String("AWS_REGION", &c.Region)
	r.Required("PROMPTQ_TABLE", &c.Table)
	r.String("PROMPTQ_USER_POOL_ID", &c.UserPoolID)
	r.String("PROMPTQ_COGNITO_ISSUER", &c.Issuer)
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	r.String("PROMPTQ_JWKS_URL", &c.JWKSURL)
	r.List("PROMPTQ_CLIENT_IDS", &c.ClientIDs)
	if len(c.ClientIDs) == 0 {
		r.Add(errors.New("PROMPTQ_CLIENT_IDS is required"))
	}
	r.List("PROMPTQ_WEB_ORIGIN", &c.WebOrigins)
	urls, err := appenv.LaneURLs(getenv)
	r.Add(err)
	c.QueueURLs = urls
	if c.Issuer == "" {
		if c.UserPoolID == "" || c.Region == "" {
			r.Add(errors.New("PROMPTQ_COGNITO_ISSUER, or PROMPTQ_USER_POOL_ID and AWS_REGION, are required"))
		} else {
			c.Issuer = fmt.Sprintf("https://cognito-idp.%s.amazonaws.com/%s", c.Region, c.UserPoolID)
		}
	}
	if c.JWKSURL == "" && c.Issuer != "" {
		c.JWKSURL = c.Issuer + "/.well-known/jwks.json"
	}
	var models []string
	r.List("PROMPTQ_MODELS", &models)
	if len(models) > 0 {
		c.Limits.Models = models
		c.Limits.DefaultModel = models[0]
	}
	r.String("PROMPTQ_DEFAULT_MODEL", &c.Limits.DefaultModel)
	r.Int("PROMPTQ_MAX_PROMPT_CHARS", &c.Limits.MaxPromptChars, 1, envvar.NoMax)
	if err := c.Limits.Validate(); err != nil {
		r.Add(fmt.Errorf("PROMPTQ_MODELS / PROMPTQ_DEFAULT_MODEL: %w", err))
	}
	r.Bool("PROMPTQ_REVOCATION_CHECK", &c.RevocationCheck)
	// 0 turns a limit off.
	r.Int("PROMPTQ_LIMIT_SUBMISSIONS_PER_MINUTE", &c.UserLimits.SubmissionsPerMinute, 0, envvar.NoMax)
	r.Int("PROMPTQ_LIMIT_TOKENS_PER_DAY", &c.UserLimits.TokensPerDay, 0, envvar.NoMax)
	r.Int("PROMPTQ_LIMIT_ACTIVE_JOBS", &c.UserLimits.ActiveJobs, 0, envvar.NoMax)
	r.Int("PROMPTQ_LIMIT_REQUESTS_PER_SECOND", &c.UserLimits.RequestsPerSecond, 0, envvar.NoMax)
	r.Int("PROMPTQ_STACK_TOKENS_PER_DAY", &c.StackTokensPerDay, 0, envvar.NoMax)
	r.Duration("PROMPTQ_REVOCATION_CACHE_TTL", &c.RevocationTTL, time.Second, 0)
	r.Duration("PROMPTQ_JOB_TTL", &c.JobTTL, time.Second, 0)
	return c, r.Err()
}
