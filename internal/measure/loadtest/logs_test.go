package loadtest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/promptq/promptq/internal/measure/loadtest"
)

func TestReadAttemptsFollowsAJobAcrossWorkerLogs(t *testing.T) {
	t.Parallel()
	// Real lines of scripts/measure/faults: a worker killed while it ran the job,
	// and the worker after it; then a job whose first attempt could not
	// finish while the store was frozen.
	got, err := loadtest.ReadAttempts("testdata/worker-killed.jsonl", "testdata/worker-restarted.jsonl", "testdata/worker-released.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	killed := got["01a212e3-02e4-7506-ad62-8636d9fe2a1b"]
	if len(killed) != 2 || killed[0].Number != 1 || killed[0].Outcome != "" || killed[1].Number != 2 || killed[1].Outcome != "job succeeded" {
		t.Fatalf("killed job's attempts: %+v", killed)
	}
	if killed[0].Log != "testdata/worker-killed.jsonl" || killed[1].Log != "testdata/worker-restarted.jsonl" {
		t.Errorf("logs: %s, %s", killed[0].Log, killed[1].Log)
	}
	if s := loadtest.Story(killed); s != "no outcome logged → succeeded" {
		t.Errorf("story %q", s)
	}
	released := got["01a212e8-7f07-7391-a71f-1a19c57f9443"]
	if s := loadtest.Story(released); s != "released (timed out) → succeeded" && s != "released (store unreachable) → succeeded" {
		t.Errorf("story %q; attempts %+v", s, released)
	}
	if loadtest.Story(nil) != "never claimed" {
		t.Errorf("story of no attempts: %q", loadtest.Story(nil))
	}
}

func TestALabelNamesTheCauseOfARelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cause, want string
	}{
		{"rate_limited: The model is throttling (injected by the load test).", "released (throttled)"},
		{"finish job x attempt 1: operation error DynamoDB: UpdateItem, context deadline exceeded", "released (timed out)"},
		{"finish job x attempt 1: unavailable: The job store is busy or unreachable", "released (store unreachable)"},
		{"finish job x attempt 1: something odd happened here today, really odd", "released (something odd happened here today, really ...)"},
	}
	for _, tt := range tests {
		a := loadtest.Attempt{Outcome: "transient failure; job released, the message will come back", Cause: tt.cause}
		if got := a.Label(); got != tt.want {
			t.Errorf("Label(%q) = %q, want %q", tt.cause, got, tt.want)
		}
	}
}

func TestReadAttemptsSkipsWhatIsNotAWorkersAttempt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.jsonl")
	lines := `not json
{"msg":"request","component":"api","job_id":"j","attempt":1}
{"msg":"job claimed","component":"worker","job_id":"j","attempt":1}
{"msg":"could not save progress; trying again at the next flush","component":"worker","job_id":"j","attempt":1}
{"msg":"job succeeded","component":"worker","job_id":"other","attempt":1}
{"msg":"job claimed","component":"worker","job_id":"j","attem`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := loadtest.ReadAttempts(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got["j"]) != 1 || got["j"][0].Outcome != "" {
		t.Errorf("got %+v, want job j with one attempt and no outcome", got)
	}
}
