package worker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// queueEnv is the two lanes' queue URLs.
var queueEnv = map[string]string{"PROMPTQ_INTERACTIVE_QUEUE_URL": "https://q/i", "PROMPTQ_BULK_QUEUE_URL": "https://q/b"}

var queueURLs = sqsqueue.LaneURLs{jobs.LaneInteractive: "https://q/i", jobs.LaneBulk: "https://q/b"}

func with(m map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(with(queueEnv, map[string]string{"PROMPTQ_TABLE": "jobs"})))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := DefaultConfig()
	want.Table, want.QueueURLs = "jobs", queueURLs
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadConfig = %+v, want %+v", c, want)
	}
	if c.Provider != ProviderBedrock {
		t.Errorf("default provider %q, want bedrock", c.Provider)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(with(queueEnv, map[string]string{
		"PROMPTQ_TABLE":                   "t",
		"PROMPTQ_MODEL_PROVIDER":          "local",
		"PROMPTQ_MAX_RECEIVE_COUNT":       "3",
		"PROMPTQ_WORKER_CONCURRENCY":      "4",
		"PROMPTQ_LEASE":                   "90s",
		"PROMPTQ_FLUSH_INTERVAL":          "500ms",
		"PROMPTQ_DEADLINE_MARGIN":         "5s",
		"PROMPTQ_BACKOFF_BASE":            "2s",
		"PROMPTQ_BACKOFF_MAX":             "1m",
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "1000",
		"PROMPTQ_LOCAL_LATENCY":           "0s",
		"PROMPTQ_LOCAL_MAX_CONCURRENT":    "8",
		"PROMPTQ_LOCAL_TOKENS_PER_MINUTE": "20000",
		"PROMPTQ_MODEL_CONCURRENCY":       "8",
		"PROMPTQ_MODEL_TOKENS_PER_MINUTE": "20000",
		"PROMPTQ_INTERACTIVE_SHARE":       "0.5",
		"PROMPTQ_FAIR_SHARES":             "false",
		"PROMPTQ_THROTTLE_BACKOFF_BASE":   "1s",
		"PROMPTQ_THROTTLE_BACKOFF_MAX":    "10m",
		"PROMPTQ_THROTTLE_GIVE_UP_AFTER":  "2h",
	})))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := Config{
		Table: "t", QueueURLs: queueURLs, Provider: ProviderLocal, MaxReceiveCount: 3, Concurrency: 4,
		Quota:      quota.Quota{Concurrency: 8, TokensPerMinute: 20000, InteractiveShare: 0.5},
		FairShares: false,
		Lease:      90 * time.Second, FlushInterval: 500 * time.Millisecond, DeadlineMargin: 5 * time.Second,
		BackoffBase: 2 * time.Second, BackoffMax: time.Minute, LocalTokensPerSecond: 1000, LocalLatency: 0,
		ThrottleBackoffBase: time.Second, ThrottleBackoffMax: 10 * time.Minute, ThrottleGiveUpAfter: 2 * time.Hour,
		LocalMaxConcurrent: 8, LocalTokensPerMinute: 20000,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadConfig = %+v, want %+v", c, want)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	t.Parallel()
	base := with(queueEnv, map[string]string{"PROMPTQ_TABLE": "jobs"})
	tests := []struct {
		set     map[string]string
		wantErr string
	}{
		{map[string]string{"PROMPTQ_TABLE": ""}, "PROMPTQ_TABLE is required"},
		{map[string]string{"PROMPTQ_BULK_QUEUE_URL": " "}, "PROMPTQ_BULK_QUEUE_URL is required"},
		{map[string]string{"PROMPTQ_INTERACTIVE_QUEUE_URL": ""}, "PROMPTQ_INTERACTIVE_QUEUE_URL is required"},
		{map[string]string{"PROMPTQ_MODEL_CONCURRENCY": "3"}, "PROMPTQ_MODEL_CONCURRENCY"},
		{map[string]string{"PROMPTQ_INTERACTIVE_SHARE": "1.5"}, "interactive share"},
		{map[string]string{"PROMPTQ_MODEL_TOKENS_PER_MINUTE": "lots"}, "PROMPTQ_MODEL_TOKENS_PER_MINUTE"},
		{map[string]string{"PROMPTQ_FAIR_SHARES": "maybe"}, "PROMPTQ_FAIR_SHARES"},
		{map[string]string{"PROMPTQ_THROTTLE_BACKOFF_MAX": "1h"}, "at most 15m"},
		{map[string]string{"PROMPTQ_THROTTLE_GIVE_UP_AFTER": "0s"}, "PROMPTQ_THROTTLE_GIVE_UP_AFTER must be positive"},
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "local", "PROMPTQ_LOCAL_MAX_CONCURRENT": "-1"}, "PROMPTQ_LOCAL_MAX_CONCURRENT must not be negative"},
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "openai"}, `PROMPTQ_MODEL_PROVIDER="openai"`},
		{map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "five"}, `PROMPTQ_MAX_RECEIVE_COUNT="five": want a whole number`},
		{map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "0"}, "at least 1"},
		{map[string]string{"PROMPTQ_WORKER_CONCURRENCY": "0"}, "PROMPTQ_WORKER_CONCURRENCY must be at least 1"},
		{map[string]string{"PROMPTQ_LEASE": "60"}, `PROMPTQ_LEASE="60": want a duration`},
		{map[string]string{"PROMPTQ_LEASE": "2s"}, "at least three flush intervals"},
		{map[string]string{"PROMPTQ_FLUSH_INTERVAL": "0s"}, "PROMPTQ_FLUSH_INTERVAL must be positive"},
		{map[string]string{"PROMPTQ_DEADLINE_MARGIN": "-1s"}, "must not be negative"},
		{map[string]string{"PROMPTQ_BACKOFF_BASE": "1m", "PROMPTQ_BACKOFF_MAX": "30s"}, "at least PROMPTQ_BACKOFF_BASE"},
		{map[string]string{"PROMPTQ_BACKOFF_MAX": "13h"}, "at most 12h"},
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "local", "PROMPTQ_LOCAL_TOKENS_PER_SECOND": "0"}, "must be positive"},
		{map[string]string{"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "fast"}, `PROMPTQ_LOCAL_TOKENS_PER_SECOND="fast": want a number`},
	}
	for _, tt := range tests {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range tt.set {
			m[k] = v
		}
		_, err := LoadConfig(env(m))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("LoadConfig with %v: error %v, want one containing %q", tt.set, err, tt.wantErr)
		}
	}
}

func TestNewChecksItsArguments(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	if _, err := New(nil, &fakeQueue{}, &fakeModel{}, cfg, Options{}); err == nil {
		t.Error("New with no store succeeded")
	}
	cfg.Concurrency = 0
	if _, err := New(&fakeStore{t: t}, &fakeQueue{}, &fakeModel{}, cfg, Options{}); err == nil {
		t.Error("New with concurrency 0 succeeded")
	}
}
