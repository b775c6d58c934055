package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dev/bedrocktest"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

const owner = "3c1d2f7a-5b6e-4f80-9a1b-2c3d4e5f6a7b"

// TestBootstrapUnderRIE builds the real bootstrap, runs it under
// aws-lambda-rie against kumo (DynamoDB, SQS) and a fake Bedrock endpoint
// that speaks ConverseStream's event stream (internal/dev/bedrocktest),
// and sends it the SQS event in testdata/, as Lambda's event source
// mapping would: one job that succeeds and one the model throttles.
func TestBootstrapUnderRIE(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	be := standin.NewBackend(t, sqsqueue.QueueOptions{MaxReceiveCount: 3})
	kumo, name, queueURL := be.Kumo, be.Table, be.QueueURL
	store, queue := be.Store(dynamo.Options{}), be.Queue()
	model := bedrocktest.NewServer(t, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		if strings.Contains(r.Prompt, "throttle me") {
			w.Error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
			return
		}
		w.Answer([]string{"Hello", " from", " the emulator."}, "end_turn", 9, 4)
	})
	var ids []string
	for _, prompt := range []string{"Say hello from the emulator", "throttle me"} {
		j, _, err := store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: prompt, Model: jobs.DefaultModel, MaxTokens: 50}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := queue.Send(ctx, j.Message()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// Real receipt handles, so the function's visibility change is real.
	out, err := kumo.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 2 {
		t.Fatalf("receive: %v (%d messages)", err, len(out.Messages))
	}
	event, err := os.ReadFile("testdata/sqs-event.json")
	if err != nil {
		t.Fatal(err)
	}
	replace := []string{"QUEUE_ARN", be.QueueARN, "OWNER", owner}
	for _, m := range out.Messages {
		var msg jobs.Message
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil {
			t.Fatal(err)
		}
		n := "1"
		if msg.JobID == ids[1] {
			n = "2"
		}
		replace = append(replace,
			"MESSAGE_ID_"+n, aws.ToString(m.MessageId),
			"RECEIPT_HANDLE_"+n, aws.ToString(m.ReceiptHandle),
			"JOB_ID_"+n, msg.JobID,
			"MD5_"+n, aws.ToString(m.MD5OfBody))
	}
	event = []byte(strings.NewReplacer(replace...).Replace(string(event)))

	fn := standin.StartRIE(t, standin.BuildLambda(t, "github.com/promptq/promptq/lambdas/worker"), append([]string{
		"AWS_REGION=" + standin.Region,
		"AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_ENDPOINT_URL_DYNAMODB=" + kumo.URL,
		"AWS_ENDPOINT_URL_SQS=" + kumo.URL,
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + model.URL,
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"PROMPTQ_TABLE=" + name,
		"PROMPTQ_MAX_RECEIVE_COUNT=3",
	}, be.QueueEnv()...)...)
	res, err := fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(res, &resp); err != nil {
		t.Fatalf("response %s: %v", res, err)
	}
	// A throttle is not a failed try: no message is reported failed (which
	// would use up one of its receives); the throttled job is sent again
	// as a new message.
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("response %s, want no batchItemFailures", res)
	}
	var again []jobs.Message
	for deadline := time.Now().Add(15 * time.Second); len(again) == 0 && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond) // the new message comes after its backoff
		if again, err = standin.ReceiveAll(ctx, kumo.SQS, queueURL); err != nil {
			t.Fatal(err)
		}
	}
	if len(again) != 1 || again[0].JobID != ids[1] || again[0].Throttles != 1 || again[0].ThrottledSince == 0 {
		t.Errorf("queue holds %+v after the invocation, want the throttled job's message sent again, counting 1 throttle", again)
	}

	done, err := store.Get(ctx, owner, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != jobs.StatusSucceeded || done.GeneratedText != "Hello from the emulator." || done.Tokens.Output != 4 {
		t.Errorf("first job = %s %q %+v, want succeeded with the model's text and 4 output tokens", done.Status, done.GeneratedText, done.Tokens)
	}
	retried, err := store.Get(ctx, owner, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if retried.Status != jobs.StatusQueued || retried.Attempts != 1 {
		t.Errorf("throttled job = %s after %d claims, want queued again after 1 (given back, not failed)", retried.Status, retried.Attempts)
	}

	// The function logs JSON through the lambdacontext logger: request id,
	// job and user on every line, no prompt.
	logs := fn.Logs()
	if !strings.Contains(logs, `"requestId":`) || !strings.Contains(logs, `"job_id":"`+ids[0]+`"`) || !strings.Contains(logs, `"user":"`+owner+`"`) {
		t.Errorf("logs lack requestId, job_id or user:\n%s", logs)
	}
	if strings.Contains(logs, "Say hello from the emulator") {
		t.Errorf("logs contain the prompt:\n%s", logs)
	}
	if bytes.Contains(res, []byte("errorMessage")) {
		t.Errorf("function error: %s", res)
	}
}

func TestSetupRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROMPTQ_TABLE": "jobs", "PROMPTQ_INTERACTIVE_QUEUE_URL": "https://q/i", "PROMPTQ_BULK_QUEUE_URL": "https://q/b",
		"PROMPTQ_MODEL_PROVIDER": "gpt"}
	if _, err := setup(t.Context(), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "PROMPTQ_MODEL_PROVIDER") {
		t.Errorf("setup = %v, want a config error naming PROMPTQ_MODEL_PROVIDER", err)
	}
}

// The Lambda calls Bedrock only: the local model is refused by name.
func TestSetupRefusesTheLocalModel(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROMPTQ_TABLE": "jobs", "PROMPTQ_INTERACTIVE_QUEUE_URL": "https://q/i", "PROMPTQ_BULK_QUEUE_URL": "https://q/b",
		"PROMPTQ_MODEL_PROVIDER": "local"}
	if _, err := setup(t.Context(), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "only under make dev") {
		t.Errorf("setup = %v, want an error saying the local model runs only under make dev", err)
	}
}
