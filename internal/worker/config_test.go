package worker

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{"PROMPTQ_TABLE": "jobs", "PROMPTQ_QUEUE_URL": "https://q"}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := DefaultConfig()
	want.Table, want.QueueURL = "jobs", "https://q"
	if c != want {
		t.Errorf("LoadConfig = %+v, want %+v", c, want)
	}
	if c.Provider != ProviderBedrock {
		t.Errorf("default provider %q, want bedrock", c.Provider)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{
		"PROMPTQ_TABLE":                   "t",
		"PROMPTQ_QUEUE_URL":               "u",
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
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := Config{
		Table: "t", QueueURL: "u", Provider: ProviderLocal, MaxReceiveCount: 3, Concurrency: 4,
		Lease: 90 * time.Second, FlushInterval: 500 * time.Millisecond, DeadlineMargin: 5 * time.Second,
		BackoffBase: 2 * time.Second, BackoffMax: time.Minute, LocalTokensPerSecond: 1000, LocalLatency: 0,
	}
	if c != want {
		t.Errorf("LoadConfig = %+v, want %+v", c, want)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	t.Parallel()
	base := map[string]string{"PROMPTQ_TABLE": "jobs", "PROMPTQ_QUEUE_URL": "https://q"}
	tests := []struct {
		set     map[string]string
		wantErr string
	}{
		{map[string]string{"PROMPTQ_TABLE": ""}, "PROMPTQ_TABLE is required"},
		{map[string]string{"PROMPTQ_QUEUE_URL": " "}, "PROMPTQ_QUEUE_URL is required"},
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "openai"}, `PROMPTQ_MODEL_PROVIDER="openai"`},
		{map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "five"}, "not an integer"},
		{map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "0"}, "at least 1"},
		{map[string]string{"PROMPTQ_WORKER_CONCURRENCY": "0"}, "PROMPTQ_WORKER_CONCURRENCY must be at least 1"},
		{map[string]string{"PROMPTQ_LEASE": "60"}, "not a duration"},
		{map[string]string{"PROMPTQ_LEASE": "2s"}, "at least three flush intervals"},
		{map[string]string{"PROMPTQ_FLUSH_INTERVAL": "0s"}, "PROMPTQ_FLUSH_INTERVAL must be positive"},
		{map[string]string{"PROMPTQ_DEADLINE_MARGIN": "-1s"}, "must not be negative"},
		{map[string]string{"PROMPTQ_BACKOFF_BASE": "1m", "PROMPTQ_BACKOFF_MAX": "30s"}, "at least PROMPTQ_BACKOFF_BASE"},
		{map[string]string{"PROMPTQ_BACKOFF_MAX": "13h"}, "at most 12h"},
		{map[string]string{"PROMPTQ_MODEL_PROVIDER": "local", "PROMPTQ_LOCAL_TOKENS_PER_SECOND": "0"}, "must be positive"},
		{map[string]string{"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "fast"}, "not a number"},
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
	if _, err := New(nil, &fakeQueue{}, &fakeModel{}, cfg, nil); err == nil {
		t.Error("New with no store succeeded")
	}
	cfg.Concurrency = 0
	if _, err := New(&fakeStore{t: t}, &fakeQueue{}, &fakeModel{}, cfg, nil); err == nil {
		t.Error("New with concurrency 0 succeeded")
	}
}
