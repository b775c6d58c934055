package localbatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/localbatch"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
)

// eventLog records the state-change events in order.
type eventLog struct {
	mu     sync.Mutex
	events []events.CloudWatchEvent
}

func (l *eventLog) add(_ context.Context, ev events.CloudWatchEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// statuses are the statuses the events of the job arn carried.
func (l *eventLog) statuses(arn string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.events {
		if len(ev.Resources) == 1 && ev.Resources[0] == arn {
			var d struct{ Status, BatchJobArn string }
			if err := json.Unmarshal(ev.Detail, &d); err == nil && d.BatchJobArn == arn &&
				ev.Source == "aws.bedrock" && ev.DetailType == "Batch Inference Job State Change" {
				out = append(out, d.Status)
			}
		}
	}
	return out
}

type fixture struct {
	s3      *s3.Client
	bedrock *bedrock.Client
	bucket  string
	log     *eventLog
}

func start(t *testing.T, startAfter time.Duration) fixture {
	t.Helper()
	s3c, bucket := standin.NewBucket(t, standin.Kumo(t))
	log := &eventLog{}
	srv := localbatch.New(localbatch.Options{S3: s3c, Model: localmodel.New(localmodel.Options{TokensPerSecond: 10_000}),
		StartAfter: startAfter, OnEvent: log.add})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return fixture{s3: s3c, bedrock: bedrock.NewFromConfig(standin.AWSConfig(hs.URL)), bucket: bucket, log: log}
}

func (f fixture) putInput(t *testing.T, key string, recs ...[]byte) {
	t.Helper()
	if _, err := f.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key),
		Body: bytes.NewReader(bytes.Join(recs, nil))}); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) create(t *testing.T, name, token, input string) string {
	t.Helper()
	return f.createFor(t, "promptq-local", name, token, input)
}

func (f fixture) createFor(t *testing.T, model, name, token, input string) string {
	t.Helper()
	out, err := f.bedrock.CreateModelInvocationJob(t.Context(), &bedrock.CreateModelInvocationJobInput{
		JobName: aws.String(name), ModelId: aws.String(model), RoleArn: aws.String("arn:aws:iam::000000000000:role/batch"),
		ClientRequestToken:  aws.String(token),
		ModelInvocationType: types.ModelInvocationTypeConverse,
		InputDataConfig: &types.ModelInvocationJobInputDataConfigMemberS3InputDataConfig{Value: types.ModelInvocationJobS3InputDataConfig{
			S3Uri: aws.String("s3://" + f.bucket + "/" + input)}},
		OutputDataConfig: &types.ModelInvocationJobOutputDataConfigMemberS3OutputDataConfig{Value: types.ModelInvocationJobS3OutputDataConfig{
			S3Uri: aws.String("s3://" + f.bucket + "/out/")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.JobArn)
}

func (f fixture) waitFor(t *testing.T, arn string, status types.ModelInvocationJobStatus) *bedrock.GetModelInvocationJobOutput {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := f.bedrock.GetModelInvocationJob(t.Context(), &bedrock.GetModelInvocationJobInput{JobIdentifier: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status == status {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %s", arn, out.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// output reads the results job arn wrote for its input.jsonl, by record id
// and in the file's order.
func (f fixture) output(t *testing.T, arn string) (map[string]bedrockbatch.Result, []string) {
	t.Helper()
	id := arn[strings.LastIndex(arn, "/")+1:]
	obj, err := f.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("out/" + id + "/input.jsonl.out")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	results := map[string]bedrockbatch.Result{}
	var order []string
	if err := bedrockbatch.ReadOutput(obj.Body, func(r bedrockbatch.Result) error {
		results[r.RecordID] = r
		order = append(order, r.RecordID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return results, order
}

func record(t *testing.T, id, prompt string) []byte {
	t.Helper()
	line, err := bedrockbatch.NewRecord(jobs.Job{ID: id, Prompt: prompt, MaxTokens: 50}).Line()
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestAJobRunsItsRecordsAndWritesBedrocksOutput(t *testing.T) {
	f := start(t, 0)
	f.putInput(t, "runs/r1/input.jsonl",
		record(t, "a", "Say hello."), record(t, "b", "promptq-fault:invalid"), record(t, "c", "Count to three."),
		[]byte(`{"recordId":"d","modelInput":{"messages":[]}}`+"\n"))
	arn := f.create(t, "r1", "token-r1", "runs/r1/input.jsonl")
	if again := f.create(t, "r1", "token-r1", "runs/r1/input.jsonl"); again != arn {
		t.Errorf("the same client request token made job %s, then %s", arn, again)
	}
	got := f.waitFor(t, arn, types.ModelInvocationJobStatusCompleted)
	if aws.ToInt64(got.TotalRecordCount) != 4 || aws.ToInt64(got.ProcessedRecordCount) != 4 ||
		aws.ToInt64(got.SuccessRecordCount) != 2 || aws.ToInt64(got.ErrorRecordCount) != 2 {
		t.Errorf("counts total %d processed %d success %d error %d, want 4 4 2 2", aws.ToInt64(got.TotalRecordCount),
			aws.ToInt64(got.ProcessedRecordCount), aws.ToInt64(got.SuccessRecordCount), aws.ToInt64(got.ErrorRecordCount))
	}
	want := []string{"Submitted", "Validating", "Scheduled", "InProgress", "Completed"}
	if st := f.log.statuses(arn); strings.Join(st, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", st, want)
	}

	id := arn[strings.LastIndex(arn, "/")+1:]
	results, order := f.output(t, arn)
	if len(results) != 4 || strings.Join(order, "") == "abcd" {
		t.Errorf("output records %v: want all four, in an order other than the input's", order)
	}
	if r := results["a"]; r.Err != nil || r.Text == "" || r.Tokens.Output == 0 || r.StopReason == "" {
		t.Errorf("record a = %+v, want text, tokens and a stop reason", r)
	}
	if r := results["b"]; r.Err == nil || r.Err.Code != "400" {
		t.Errorf("record b = %+v, want error 400", r)
	}
	if r := results["d"]; r.Err == nil || r.Err.Code != "400" {
		t.Errorf("record d = %+v, want error 400 for a malformed request", r)
	}
	man, err := f.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("out/" + id + "/manifest.json.out")})
	if err != nil {
		t.Fatal(err)
	}
	defer man.Body.Close()
	m, err := bedrockbatch.ReadManifest(man.Body)
	if err != nil {
		t.Fatal(err)
	}
	if m.TotalRecordCount != 4 || m.SuccessRecordCount != 2 || m.ErrorRecordCount != 2 ||
		m.OutputTokenCount != results["a"].Tokens.Output+results["c"].Tokens.Output {
		t.Errorf("manifest %+v does not match the output", m)
	}

	list, err := f.bedrock.ListModelInvocationJobs(t.Context(), &bedrock.ListModelInvocationJobsInput{
		StatusEquals: types.ModelInvocationJobStatusCompleted, NameContains: aws.String("r1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.InvocationJobSummaries) != 1 || aws.ToString(list.InvocationJobSummaries[0].JobArn) != arn {
		t.Errorf("list gave %d jobs, want the one", len(list.InvocationJobSummaries))
	}
}

func TestStopAndErrors(t *testing.T) {
	f := start(t, time.Hour)
	f.putInput(t, "runs/r2/input.jsonl", record(t, "a", "Hi"))
	arn := f.create(t, "r2", "token-r2", "runs/r2/input.jsonl")
	f.waitFor(t, arn, types.ModelInvocationJobStatusScheduled)
	if _, err := f.bedrock.StopModelInvocationJob(t.Context(), &bedrock.StopModelInvocationJobInput{JobIdentifier: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	got := f.waitFor(t, arn, types.ModelInvocationJobStatusStopped)
	if aws.ToInt64(got.ProcessedRecordCount) != 0 {
		t.Errorf("a job stopped before it ran processed %d records", aws.ToInt64(got.ProcessedRecordCount))
	}
	_, err := f.bedrock.StopModelInvocationJob(t.Context(), &bedrock.StopModelInvocationJobInput{JobIdentifier: aws.String(arn)})
	var invalid *types.ValidationException
	if !errors.As(err, &invalid) {
		t.Errorf("stopping a stopped job: %v, want a ValidationException", err)
	}
	_, err = f.bedrock.GetModelInvocationJob(t.Context(), &bedrock.GetModelInvocationJobInput{
		JobIdentifier: aws.String("arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/nosuchjob000")})
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) {
		t.Errorf("getting an unknown job: %v, want a ResourceNotFoundException", err)
	}

	arn = f.create(t, "r3", "token-r3", "runs/none/input.jsonl")
	if got := f.waitFor(t, arn, types.ModelInvocationJobStatusFailed); !strings.Contains(aws.ToString(got.Message), "input") {
		t.Errorf("a job without input failed with %q", aws.ToString(got.Message))
	}
}

// A run's records are answered as its model answers them: a temperature in
// a record for Claude Haiku 5.5 is a record error with Bedrock's message;
// the record's effort is the effort the model runs at (at max it thinks,
// billed as output); a refusal is an answer with stop reason refusal,
// billed.
func TestRecordsFollowTheRunsModel(t *testing.T) {
	f := start(t, 0)
	const haiku55 = "us.anthropic.claude-haiku-5-5"
	rec := func(id, modelInput string) []byte {
		return []byte(`{"recordId":"` + id + `","modelInput":` + modelInput + "}\n")
	}
	f.putInput(t, "runs/r4/input.jsonl",
		rec("temp", `{"messages":[{"role":"user","content":[{"text":"Hi."}]}],"inferenceConfig":{"maxTokens":50,"temperature":0.5}}`),
		rec("medium", `{"messages":[{"role":"user","content":[{"text":"Hi."}]}],"inferenceConfig":{"maxTokens":500},"outputConfig":{"effort":"medium"},"additionalModelRequestFields":{"thinking":{"type":"disabled"}}}`),
		rec("max", `{"messages":[{"role":"user","content":[{"text":"Hi."}]}],"inferenceConfig":{"maxTokens":500},"outputConfig":{"effort":"max"}}`),
		rec("refuse", `{"messages":[{"role":"user","content":[{"text":"promptq-fault:refuse"}]}],"inferenceConfig":{"maxTokens":500},"outputConfig":{"effort":"medium"}}`))
	arn := f.createFor(t, haiku55, "r4", "token-r4", "runs/r4/input.jsonl")
	f.waitFor(t, arn, types.ModelInvocationJobStatusCompleted)
	results, _ := f.output(t, arn)
	if r := results["temp"]; r.Err == nil || r.Err.Code != "400" || r.Err.Message != catalogue.SamplingRejection("temperature") {
		t.Errorf("record with a temperature = %+v, want error 400 %q", r, catalogue.SamplingRejection("temperature"))
	}
	medium, maxed := results["medium"], results["max"]
	if medium.Err != nil || maxed.Err != nil || medium.Text != maxed.Text ||
		medium.Tokens.Output != len(strings.Fields(medium.Text)) ||
		maxed.Tokens.Output != len(strings.Fields(maxed.Text))+localmodel.ThinkingTokens("max") {
		t.Errorf("records at medium %+v and max %+v: want the same text, the one at max with its thinking billed", medium, maxed)
	}
	if r := results["refuse"]; r.Err != nil || r.StopReason != jobs.StopRefusal || r.Text == "" || r.Tokens.Output != len(strings.Fields(r.Text)) {
		t.Errorf("refused record = %+v, want its text so far, stop reason refusal, billed", r)
	}
}
