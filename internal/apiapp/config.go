// Package apiapp is the API's configuration, read from the environment once
// and validated, and its wiring: the clients and collaborators the handler
// needs. lambdas/api and the dev runner both build the API here, so the
// code paths are the same; only the endpoints differ.
package apiapp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/dynamo"
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
}

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it, naming every variable that is wrong.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{
		Region:          getenv("AWS_REGION"),
		Table:           getenv("PROMPTQ_TABLE"),
		UserPoolID:      getenv("PROMPTQ_USER_POOL_ID"),
		Issuer:          strings.TrimSuffix(getenv("PROMPTQ_COGNITO_ISSUER"), "/"),
		JWKSURL:         getenv("PROMPTQ_JWKS_URL"),
		ClientIDs:       list(getenv("PROMPTQ_CLIENT_IDS")),
		WebOrigins:      list(getenv("PROMPTQ_WEB_ORIGIN")),
		Limits:          jobs.DefaultLimits(),
		RevocationCheck: true,
		RevocationTTL:   time.Minute,
		JobTTL:          jobs.DefaultJobTTL,
		UserLimits:      dynamo.Limits{SubmissionsPerMinute: 60, TokensPerDay: 2_000_000, ActiveJobs: 1000, RequestsPerSecond: 10},
	}
	if c.Table == "" {
		errs = append(errs, errors.New("PROMPTQ_TABLE is required"))
	}
	urls, err := sqsqueue.LaneURLsFromEnv(getenv)
	errs = append(errs, err)
	c.QueueURLs = urls
	if len(c.ClientIDs) == 0 {
		errs = append(errs, errors.New("PROMPTQ_CLIENT_IDS is required"))
	}
	if c.Issuer == "" {
		if c.UserPoolID == "" || c.Region == "" {
			errs = append(errs, errors.New("PROMPTQ_COGNITO_ISSUER, or PROMPTQ_USER_POOL_ID and AWS_REGION, are required"))
		} else {
			c.Issuer = fmt.Sprintf("https://cognito-idp.%s.amazonaws.com/%s", c.Region, c.UserPoolID)
		}
	}
	if c.JWKSURL == "" && c.Issuer != "" {
		c.JWKSURL = c.Issuer + "/.well-known/jwks.json"
	}
	if models := list(getenv("PROMPTQ_MODELS")); len(models) > 0 {
		c.Limits.Models = models
		c.Limits.DefaultModel = models[0]
	}
	if m := getenv("PROMPTQ_DEFAULT_MODEL"); m != "" {
		c.Limits.DefaultModel = m
	}
	if v := getenv("PROMPTQ_MAX_PROMPT_CHARS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("PROMPTQ_MAX_PROMPT_CHARS=%q: want a positive integer", v))
		}
		c.Limits.MaxPromptChars = n
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("PROMPTQ_MODELS / PROMPTQ_DEFAULT_MODEL: %w", err))
	}
	if v := getenv("PROMPTQ_REVOCATION_CHECK"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("PROMPTQ_REVOCATION_CHECK=%q: want true or false", v))
		}
		c.RevocationCheck = b
	}
	errs = append(errs,
		count(getenv, "PROMPTQ_LIMIT_SUBMISSIONS_PER_MINUTE", &c.UserLimits.SubmissionsPerMinute),
		count(getenv, "PROMPTQ_LIMIT_TOKENS_PER_DAY", &c.UserLimits.TokensPerDay),
		count(getenv, "PROMPTQ_LIMIT_ACTIVE_JOBS", &c.UserLimits.ActiveJobs),
		count(getenv, "PROMPTQ_LIMIT_REQUESTS_PER_SECOND", &c.UserLimits.RequestsPerSecond),
		count(getenv, "PROMPTQ_STACK_TOKENS_PER_DAY", &c.StackTokensPerDay))
	errs = append(errs, duration(getenv, "PROMPTQ_REVOCATION_CACHE_TTL", &c.RevocationTTL))
	errs = append(errs, duration(getenv, "PROMPTQ_JOB_TTL", &c.JobTTL))
	return c, errors.Join(errs...)
}

func duration(getenv func(string) string, name string, dst *time.Duration) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s=%q: want a positive duration such as 60s or 720h", name, v)
	}
	*dst = d
	return nil
}

// count reads a non-negative integer (0 turns a limit off).
func count(getenv func(string) string, name string, dst *int) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("%s=%q: want a whole number, 0 for no limit", name, v)
	}
	*dst = n
	return nil
}

// list splits a comma-separated value, dropping blanks.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
