package devstack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/quota"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvDefaults(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.WebPort != 8080 || c.APIPort != 8787 || c.AWSPort != 4566 || c.CognitoPort != 9229 {
		t.Errorf("ports %d %d %d %d", c.WebPort, c.APIPort, c.AWSPort, c.CognitoPort)
	}
	if c.Provider != ProviderLocal || c.MaxReceiveCount != 5 || c.Quota != quota.Default() ||
		c.WorkerTimeout != 15*time.Minute || c.Visibility() != 90*time.Minute || c.APITimeout != 10*time.Second ||
		c.RescueEvery != time.Minute || c.RescueAfter != 105*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	if c.Dir != filepath.Join(c.Root, ".local") {
		t.Errorf("dir %q, want .local under the repo root %q", c.Dir, c.Root)
	}
	if _, err := os.Stat(filepath.Join(c.Root, "internal", "dev", "devstack", "config.go")); err != nil {
		t.Errorf("root %q is not the repo root: %v", c.Root, err)
	}
}

func TestFromEnvNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(env(map[string]string{
		"PROMPTQ_DEV_WEB_PORT":       "http",
		"PROMPTQ_DEV_API_PORT":       "70000",
		"PROMPTQ_MODEL_PROVIDER":     "openai",
		"PROMPTQ_MAX_RECEIVE_COUNT":  "0",
		"PROMPTQ_MODEL_CONCURRENCY":  "3",
		"PROMPTQ_DEV_WORKER_TIMEOUT": "1h",
		"PROMPTQ_DEV_RESCUE_EVERY":   "0s",
		"PROMPTQ_RESCUE_AFTER":       "10m",     // not above the 30m visibility timeout
		"PROMPTQ_SIGN_UP":            "domains", // without domains
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"PROMPTQ_DEV_WEB_PORT", "PROMPTQ_DEV_API_PORT", "PROMPTQ_MODEL_PROVIDER",
		"PROMPTQ_MAX_RECEIVE_COUNT", "PROMPTQ_MODEL_CONCURRENCY", "PROMPTQ_DEV_WORKER_TIMEOUT",
		"PROMPTQ_DEV_RESCUE_EVERY", "PROMPTQ_RESCUE_AFTER", "PROMPTQ_SIGN_UP"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// The dev stack's quota is the local model's, unless set: an operator
// sizes the lanes from the account's quota; here the local model's knobs
// are that quota.
func TestTheQuotaDefaultsToTheLocalModels(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{"PROMPTQ_LOCAL_MAX_CONCURRENT": "8", "PROMPTQ_LOCAL_TOKENS_PER_MINUTE": "20000"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (quota.Quota{Concurrency: 8, TokensPerMinute: 20000, InteractiveShare: 0.25}); c.Quota != want {
		t.Errorf("quota %+v, want %+v", c.Quota, want)
	}
	c, err = FromEnv(env(map[string]string{"PROMPTQ_LOCAL_MAX_CONCURRENT": "8", "PROMPTQ_MODEL_CONCURRENCY": "6"}))
	if err != nil || c.Quota.Concurrency != 6 {
		t.Errorf("an explicit PROMPTQ_MODEL_CONCURRENCY: %+v, %v; want 6", c.Quota, err)
	}
	c, err = FromEnv(env(map[string]string{"PROMPTQ_LOCAL_MAX_CONCURRENT": "8", "PROMPTQ_MODEL_PROVIDER": "bedrock"}))
	if err != nil || c.Quota != quota.Default() {
		t.Errorf("with Bedrock the local model's knobs are not the quota: %+v, %v", c.Quota, err)
	}
}

func TestLocalModelIsAllowedAndTheDefault(t *testing.T) {
	t.Parallel()
	models, def := localModels(env(map[string]string{"PROMPTQ_MODELS": "a, b"}))
	if strings.Join(models, ",") != "promptq-local,a,b" || def != "promptq-local" {
		t.Errorf("models %v, default %q", models, def)
	}
	_, def = localModels(env(map[string]string{"PROMPTQ_DEFAULT_MODEL": "a"}))
	if def != "a" {
		t.Errorf("PROMPTQ_DEFAULT_MODEL=a gave default %q", def)
	}
}

// The local model's settings are the dev runner's alone (no shipped
// package reads them), checked when the local model runs.
func TestFromEnvReadsTheLocalModelsSettings(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "1000", "PROMPTQ_LOCAL_LATENCY": "0s",
		"PROMPTQ_LOCAL_MAX_CONCURRENT": "8", "PROMPTQ_LOCAL_TOKENS_PER_MINUTE": "20000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (localmodel.Options{TokensPerSecond: 1000, MaxConcurrent: 8, TokensPerMinute: 20000}); !reflect.DeepEqual(c.Local, want) {
		t.Errorf("local model %+v, want %+v", c.Local, want)
	}
	for _, tt := range []struct {
		set     map[string]string
		wantErr string
	}{
		{map[string]string{"PROMPTQ_LOCAL_MAX_CONCURRENT": "-1"}, "PROMPTQ_LOCAL_MAX_CONCURRENT must not be negative"},
		{map[string]string{"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "0"}, "must be positive"},
		{map[string]string{"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "fast"}, `PROMPTQ_LOCAL_TOKENS_PER_SECOND="fast": want a number`},
	} {
		if _, err := FromEnv(env(tt.set)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("FromEnv with %v: error %v, want one containing %q", tt.set, err, tt.wantErr)
		}
	}
}
