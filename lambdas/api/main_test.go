package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// TestBootstrapUnderRIE builds the real bootstrap, runs it under
// aws-lambda-rie against kumo (DynamoDB, SQS) and cognito-local, and sends it
// the API Gateway proxy event in testdata/, as API Gateway would.
func TestBootstrapUnderRIE(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	be := standin.NewBackend(t, sqsqueue.QueueOptions{})
	kumo, table, queueURL := be.Kumo, be.Table, be.QueueURL
	cog := standin.Cognito(t)
	sub, tokens := cog.NewUser(t)

	fn := standin.StartRIE(t, standin.BuildLambda(t, "github.com/promptq/promptq/lambdas/api"), append([]string{
		"AWS_REGION=" + standin.Region,
		"AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_ENDPOINT_URL_DYNAMODB=" + kumo.URL,
		"AWS_ENDPOINT_URL_SQS=" + kumo.URL,
		"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=" + cog.Endpoint,
		"PROMPTQ_TABLE=" + table,
		"PROMPTQ_COGNITO_ISSUER=" + cog.Issuer,
		"PROMPTQ_CLIENT_IDS=" + cog.ClientID,
		"PROMPTQ_WEB_ORIGIN=http://127.0.0.1:8080",
	}, be.QueueEnv()...)...)

	event, err := os.ReadFile("testdata/post-generate.json")
	if err != nil {
		t.Fatal(err)
	}
	event = bytes.ReplaceAll(event, []byte("TOKEN"), []byte(tokens.Access))
	out, err := fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	var res events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if res.StatusCode != 202 {
		t.Fatalf("status %d body %s", res.StatusCode, res.Body)
	}
	var acc struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal([]byte(res.Body), &acc); err != nil {
		t.Fatal(err)
	}
	if got := res.MultiValueHeaders["Location"]; len(got) != 1 || got[0] != "/jobs/"+acc.JobID {
		t.Errorf("Location = %v", got)
	}
	if got := res.MultiValueHeaders["X-Request-Id"]; len(got) != 1 || got[0] != "5d9c3b1e-0000-4000-8000-000000000001" {
		t.Errorf("X-Request-Id = %v, want API Gateway's request id", got)
	}

	job, err := be.Store(dynamo.Options{}).Get(ctx, sub, acc.JobID)
	if err != nil {
		t.Fatalf("the job is not in DynamoDB under its owner: %v", err)
	}
	if job.Status != jobs.StatusQueued || job.Prompt != "Say hello from the emulator" || job.MaxTokens != 32 {
		t.Errorf("stored job = %+v", job)
	}
	msgs, err := standin.ReceiveAll(ctx, kumo.SQS, queueURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].JobID != acc.JobID || msgs[0].Owner != sub || msgs[0].Lane != jobs.LaneInteractive {
		t.Errorf("queue holds %+v, want the one job on the interactive lane", msgs)
	}

	// The same event again is an idempotent replay: no second job.
	out, err = fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out, &res)
	if res.StatusCode != 202 || !bytes.Contains([]byte(res.Body), []byte(acc.JobID)) {
		t.Errorf("replay: %d %s", res.StatusCode, res.Body)
	}

	// A forged token (right claims, HS256) is refused inside the function.
	forged := bytes.ReplaceAll(event, []byte(tokens.Access), []byte("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"))
	out, err = fn.Invoke(ctx, forged)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out, &res)
	if res.StatusCode != 401 {
		t.Errorf("forged token: %d %s, want 401", res.StatusCode, res.Body)
	}
}

// TestBootstrapHoldsAUserToTheRequestRate sends the real bootstrap more
// GET /jobs than the per-user rate allows in one 10-second window (1 a
// second here): past it, the function answers 429 with Retry-After, as
// the per-user counter in DynamoDB says.
func TestBootstrapHoldsAUserToTheRequestRate(t *testing.T) {
	t.Parallel()
	be := standin.NewBackend(t, sqsqueue.QueueOptions{})
	cog := standin.Cognito(t)
	_, tokens := cog.NewUser(t)
	fn := standin.StartRIE(t, standin.BuildLambda(t, "github.com/promptq/promptq/lambdas/api"), append([]string{
		"AWS_REGION=" + standin.Region,
		"AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_ENDPOINT_URL_DYNAMODB=" + be.Kumo.URL,
		"AWS_ENDPOINT_URL_SQS=" + be.Kumo.URL,
		"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=" + cog.Endpoint,
		"PROMPTQ_TABLE=" + be.Table,
		"PROMPTQ_COGNITO_ISSUER=" + cog.Issuer,
		"PROMPTQ_CLIENT_IDS=" + cog.ClientID,
		"PROMPTQ_LIMIT_REQUESTS_PER_SECOND=1",
	}, be.QueueEnv()...)...)
	event, err := json.Marshal(events.APIGatewayProxyRequest{
		Resource: "/{proxy+}", Path: "/jobs", HTTPMethod: "GET",
		Headers:        map[string]string{"Authorization": "Bearer " + tokens.Access},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "rate", Stage: "v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Ten fit in a window; 200 in a row pass ten in some window long
	// before the end, however slow the machine.
	for n := 1; ; n++ {
		if n > 200 {
			t.Fatal("200 requests in a row and none refused")
		}
		out, err := fn.Invoke(t.Context(), event)
		if err != nil {
			t.Fatal(err)
		}
		var res events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		if res.StatusCode == 200 {
			continue
		}
		if res.StatusCode != 429 || len(res.MultiValueHeaders["Retry-After"]) != 1 || !bytes.Contains([]byte(res.Body), []byte(`"requests_per_second"`)) {
			t.Fatalf("request %d: %d %v %s; want 200, then 429 on requests_per_second with Retry-After", n, res.StatusCode, res.MultiValueHeaders, res.Body)
		}
		break
	}
}
