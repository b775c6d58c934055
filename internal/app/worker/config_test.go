package worker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/worker"
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

func TestFromEnvAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(with(queueEnv, map[string]string{"PROMPTQ_TABLE": "jobs"})))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := worker.DefaultConfig()
	want.Table, want.QueueURLs = "jobs", queueURLs
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromEnv = %+v, want %+v", c, want)
	}
}

func TestFromEnvReadsEveryVariable(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(with(queueEnv, map[string]string{
		"PROMPTQ_TABLE":                   "t",
		"PROMPTQ_MODEL_PROVIDER":          "bedrock",
		"PROMPTQ_MAX_RECEIVE_COUNT":       "3",
		"PROMPTQ_WORKER_CONCURRENCY":      "4",
		"PROMPTQ_LEASE":                   "90s",
		"PROMPTQ_FLUSH_INTERVAL":          "500ms",
		"PROMPTQ_DEADLINE_MARGIN":         "5s",
		"PROMPTQ_BACKOFF_BASE":            "2s",
		"PROMPTQ_BACKOFF_MAX":             "1m",
		"PROMPTQ_MODEL_CONCURRENCY":       "8",
		"PROMPTQ_MODEL_TOKENS_PER_MINUTE": "20000",
		"PROMPTQ_INTERACTIVE_SHARE":       "0.5",
		"PROMPTQ_FAIR_SHARES":             "false",
		"PROMPTQ_THROTTLE_BACKOFF_BASE":   "1s",
		"PROMPTQ_THROTTLE_BACKOFF_MAX":    "10m",
		"PROMPTQ_THROTTLE_GIVE_UP_AFTER":  "2h",
	})))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := Config{
		Table: "t", QueueURLs: queueURLs, MaxReceiveCount: 3, Concurrency: 4,
		Quota:      quota.Quota{Concurrency: 8, TokensPerMinute: 20000, InteractiveShare: 0.5},
		FairShares: false,
		Lease:      90 * time.Second, FlushInterval: 500 * time.Millisecond, DeadlineMargin: 5 * time.Second,
		BackoffBase: 2 * time.Second, BackoffMax: time.Minute,
		ThrottleBackoffBase: time.Second, ThrottleBackoffMax: 10 * time.Minute, ThrottleGiveUpAfter: 2 * time.Hour,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromEnv = %+v, want %+v", c, want)
	}
}

func TestFromEnvRejectsBadValues(t *testing.T) {
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
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "openai"}, `PROMPTQ_MODEL_PROVIDER="openai"`},
		// The Lambda calls Bedrock only: the local model is refused by name.
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "local"}, "the local model runs only under make dev"},
		{map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "five"}, `PROMPTQ_MAX_RECEIVE_COUNT="five": want a whole number`},
		{map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "0"}, "at least 1"},
		{map[string]string{"PROMPTQ_WORKER_CONCURRENCY": "0"}, "PROMPTQ_WORKER_CONCURRENCY must be at least 1"},
		{map[string]string{"PROMPTQ_LEASE": "60"}, `PROMPTQ_LEASE="60": want a duration`},
		{map[string]string{"PROMPTQ_LEASE": "2s"}, "at least three flush intervals"},
		{map[string]string{"PROMPTQ_FLUSH_INTERVAL": "0s"}, "PROMPTQ_FLUSH_INTERVAL must be positive"},
		{map[string]string{"PROMPTQ_DEADLINE_MARGIN": "-1s"}, "must not be negative"},
		{map[string]string{"PROMPTQ_BACKOFF_BASE": "1m", "PROMPTQ_BACKOFF_MAX": "30s"}, "at least PROMPTQ_BACKOFF_BASE"},
		{map[string]string{"PROMPTQ_BACKOFF_MAX": "13h"}, "at most 12h"},
	}
	for _, tt := range tests {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range tt.set {
			m[k] = v
		}
		_, err := FromEnv(env(m))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("FromEnv with %v: error %v, want one containing %q", tt.set, err, tt.wantErr)
		}
	}
}
