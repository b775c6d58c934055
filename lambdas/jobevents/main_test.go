package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/promptq/promptq/internal/dev/standin"
)

// TestBootstrapUnderRIE builds the real bootstrap, runs it under
// aws-lambda-rie against kumo's EventBridge and sends it the stream event in
// testdata/ (three jobs end in it, among other writes), as the event source
// mapping would. The three are on the bus, and three metric lines in the
// function's output.
func TestBootstrapUnderRIE(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k := standin.Kumo(t)
	eb := eventbridge.NewFromConfig(standin.AWSConfig(k.URL))
	bus := standin.UniqueName(t)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String("all"), EventBusName: aws.String(bus),
		EventPattern: aws.String(`{"source":["promptq"],"detail-type":["Job finished"]}`),
	}); err != nil {
		t.Fatal(err)
	}
	// kumo records matches for any target; an SNS one is not delivered.
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String("all"), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("t"), Arn: aws.String("arn:aws:sns:us-east-1:000000000000:" + bus)}},
	}); err != nil {
		t.Fatal(err)
	}

	event, err := os.ReadFile("testdata/stream-event.json")
	if err != nil {
		t.Fatal(err)
	}
	fn := standin.StartRIE(t, standin.BuildLambda(t, "github.com/promptq/promptq/lambdas/jobevents"),
		"AWS_REGION="+standin.Region,
		"AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_ENDPOINT_URL_EVENTBRIDGE="+k.URL,
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"PROMPTQ_EVENT_BUS="+bus,
	)
	res, err := fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(res, &resp); err != nil || resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %s (%v), want an empty batchItemFailures", res, err)
	}

	r, err := http.Get(k.URL + "/kumo/eventbridge/delivered-events")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var delivered []struct{ EventBusName, Detail string }
	if err := json.NewDecoder(r.Body).Decode(&delivered); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, d := range delivered {
		if d.EventBusName != bus {
			continue
		}
		var f struct{ Status string }
		if err := json.Unmarshal([]byte(d.Detail), &f); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, f.Status)
	}
	if strings.Join(statuses, " ") != "succeeded cancelled failed" {
		t.Errorf("bus received %v, want succeeded cancelled failed", statuses)
	}
	if n := strings.Count(fn.Logs(), `"CloudWatchMetrics"`); n != 3 {
		t.Errorf("%d metric lines in the output, want 3:\n%s", n, fn.Logs())
	}
	if strings.Contains(fn.Logs(), "SECRET") {
		t.Errorf("the function logged user or model text:\n%s", fn.Logs())
	}
}

func TestSetupNeedsTheBus(t *testing.T) {
	t.Parallel()
	_, err := setup(t.Context(), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "PROMPTQ_EVENT_BUS") {
		t.Errorf("setup without a bus: %v", err)
	}
}
