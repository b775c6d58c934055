package dlq

import (
	"testing"
	"time"
)

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const a, b = "01900000-0000-7000-8000-00000000000a", "01900000-0000-7000-8000-00000000000b"
	e := Entry{
		JobID:  a,
		SentAt: now.Add(-3 * time.Hour),
		Reason: "retries_exhausted: Gave up after 5 attempts. The last one failed with: The model is Throttling requests.",
	}
	tests := []struct {
		name   string
		filter Filter
		entry  Entry
		want   bool
	}{
		{"no filter selects everything", Filter{}, e, true},
		{"Max alone selects everything", Filter{Max: 1}, e, true},
		{"its job id", Filter{JobIDs: []string{b, a}}, e, true},
		{"another job id", Filter{JobIDs: []string{b}}, e, false},
		{"older than an hour", Filter{OlderThan: time.Hour}, e, true},
		{"not older than four hours", Filter{OlderThan: 4 * time.Hour}, e, false},
		{"exactly as old is not older", Filter{OlderThan: 3 * time.Hour}, e, false},
		{"no sent time is never older", Filter{OlderThan: time.Second}, Entry{JobID: a}, false},
		{"reason ignores case", Filter{Reason: "THROTTLING"}, e, true},
		{"reason by code", Filter{Reason: "retries_exhausted"}, e, true},
		{"another reason", Filter{Reason: "invalid_message"}, e, false},
		{"no reason recorded", Filter{Reason: "throttl"}, Entry{JobID: a}, false},
		{"all conditions hold", Filter{JobIDs: []string{a}, OlderThan: time.Hour, Reason: "throttl"}, e, true},
		{"one condition fails", Filter{JobIDs: []string{a}, OlderThan: time.Hour, Reason: "timeout"}, e, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.filter.Match(tt.entry, now); got != tt.want {
				t.Errorf("%+v.Match = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestFilterEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter Filter
		want   bool
	}{
		{Filter{}, true},
		{Filter{Max: 3}, true},
		{Filter{JobIDs: []string{"x"}}, false},
		{Filter{OlderThan: time.Minute}, false},
		{Filter{Reason: "x"}, false},
	}
	for _, tt := range tests {
		if got := tt.filter.Empty(); got != tt.want {
			t.Errorf("%+v.Empty() = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{45 * time.Second, "45s"},
		{12*time.Minute + 5*time.Second, "12m"},
		{3*time.Hour + 5*time.Minute, "3h05m"},
		{52 * time.Hour, "2d04h"},
	}
	for _, tt := range tests {
		if got := age(tt.d); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
