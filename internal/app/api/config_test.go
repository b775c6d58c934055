package api

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnvDefaults(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{
		"AWS_REGION":                    "eu-west-1",
		"PROMPTQ_TABLE":                 "jobs",
		"PROMPTQ_INTERACTIVE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/jobs",
		"PROMPTQ_BULK_QUEUE_URL":        "https://sqs.eu-west-1.amazonaws.com/1/jobs-bulk",
		"PROMPTQ_USER_POOL_ID":          "eu-west-1_abc",
		"PROMPTQ_CLIENT_IDS":            "c1, c2",
		"PROMPTQ_WEB_ORIGIN":            "https://d1.cloudfront.net",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc" {
		t.Errorf("issuer = %q", c.Issuer)
	}
	if c.JWKSURL != c.Issuer+"/.well-known/jwks.json" {
		t.Errorf("jwks = %q", c.JWKSURL)
	}
	if len(c.ClientIDs) != 2 || c.ClientIDs[1] != "c2" {
		t.Errorf("client ids = %q", c.ClientIDs)
	}
	if !c.RevocationCheck || c.RevocationTTL != time.Minute || c.JobTTL != 30*24*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
	if c.Limits.MaxPromptChars != 100_000 {
		t.Errorf("max prompt chars = %d", c.Limits.MaxPromptChars)
	}
	if c.UserLimits.RequestsPerSecond != 10 {
		t.Errorf("requests per second per user = %d, want 10", c.UserLimits.RequestsPerSecond)
	}
}

func TestFromEnvNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(env(map[string]string{
		"PROMPTQ_MODELS":                    "a,b",
		"PROMPTQ_DEFAULT_MODEL":             "c",
		"PROMPTQ_REVOCATION_CHECK":          "maybe",
		"PROMPTQ_JOB_TTL":                   "forever",
		"PROMPTQ_MAX_PROMPT_CHARS":          "-1",
		"PROMPTQ_REVOCATION_CACHE_TTL":      "0s",
		"PROMPTQ_LIMIT_ACTIVE_JOBS":         "-5",
		"PROMPTQ_LIMIT_REQUESTS_PER_SECOND": "lots",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"PROMPTQ_TABLE", "PROMPTQ_INTERACTIVE_QUEUE_URL", "PROMPTQ_BULK_QUEUE_URL", "PROMPTQ_CLIENT_IDS", "PROMPTQ_COGNITO_ISSUER",
		"PROMPTQ_DEFAULT_MODEL", "PROMPTQ_REVOCATION_CHECK", "PROMPTQ_JOB_TTL", "PROMPTQ_MAX_PROMPT_CHARS", "PROMPTQ_REVOCATION_CACHE_TTL", "PROMPTQ_LIMIT_ACTIVE_JOBS",
		"PROMPTQ_LIMIT_REQUESTS_PER_SECOND"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
