package bedrockbatch_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/dev/localbatch"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/s3bucket"
)

// Runs against the local stand-in of Bedrock's control plane, over the
// wire: a run starts once whatever the retries, is read to its end, and
// stopping an ended run is no error.
func TestRunsOverTheWire(t *testing.T) {
	s3c, name := standin.NewBucket(t, standin.Kumo(t))
	srv := localbatch.New(localbatch.Options{S3: s3c, Model: localmodel.New(localmodel.Options{TokensPerSecond: 10_000})})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	runs := bedrockbatch.NewRuns(bedrock.NewFromConfig(standin.AWSConfig(hs.URL)), "arn:aws:iam::000000000000:role/batch")
	bucket := s3bucket.New(s3c, name)

	runID := jobs.NewID()
	line, _ := bedrockbatch.NewRecord(jobs.Job{ID: jobs.NewID(), Prompt: "Hi", MaxTokens: 20}).Line()
	if err := bucket.Put(t.Context(), "runs/"+runID+"/input.jsonl", line); err != nil {
		t.Fatal(err)
	}
	start := bedrockbatch.Start{RunID: runID, Model: "promptq-local", InputURI: bucket.URI("runs/" + runID + "/input.jsonl"),
		OutputURI: bucket.URI("runs/" + runID + "/output/"), TimeoutHours: 24}
	arn, err := runs.Start(t.Context(), start)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := runs.Start(t.Context(), start); err != nil || again != arn {
		t.Errorf("starting the run again gave %s, %v; want %s", again, err, arn)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st bedrockbatch.Status
	for !st.Ended() {
		if st, err = runs.Status(t.Context(), arn); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("run is %s after 10 s", st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.State != types.ModelInvocationJobStatusCompleted || st.Total != 1 || st.Processed != 1 || st.Succeeded != 1 {
		t.Errorf("status = %+v", st)
	}
	if err := runs.Stop(t.Context(), arn); err != nil {
		t.Errorf("stopping an ended run: %v", err)
	}
	if id, ok := bedrockbatch.RunID(bedrockbatch.JobNamePrefix + runID); !ok || id != runID {
		t.Errorf("RunID = %q, %v", id, ok)
	}
	if _, ok := bedrockbatch.RunID("someone-elses-job"); ok {
		t.Error("a job not named by promptq was taken for a run")
	}
}
