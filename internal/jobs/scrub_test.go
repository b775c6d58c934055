package jobs_test

import (
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

func TestScrubProviderMessage(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a role", "User: arn:aws:sts::123456789012:assumed-role/promptq-Economy/x is not authorized",
			"User: (resource) is not authorized"},
		{"a bucket and an account", "Access denied to s3://promptq-economybucket-1a2b/runs/r/input.jsonl for 123456789012",
			"Access denied to (bucket) for (account)"},
		{"lines", "one\n\ttwo  three", "one two three"},
		{"nothing to hide", "The model rejected the request.", "The model rejected the request."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jobs.ScrubProviderMessage(tt.in); got != tt.want {
				t.Errorf("ScrubProviderMessage(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := jobs.ScrubProviderMessage(strings.Repeat("é", 400)); len([]rune(got)) != jobs.MaxProviderMessage+1 {
		t.Errorf("a long message keeps %d characters, want %d and an ellipsis", len([]rune(got)), jobs.MaxProviderMessage)
	}
}
