package promptqstack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestFinishedJobsReachTheirOwnBusThroughAFilteredStreamMapping(t *testing.T) {
	s := defaultStack(t)
	check(t, "table stream", func() {
		s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"StreamSpecification": map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"},
		})
	})
	check(t, "bus", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Events::EventBus"), map[string]any{"Name": "promptq-jobs"})
	})
	_, fn := s.byName(t, "JobEventsFunction")
	env := fn.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	if got := s.str(env["PROMPTQ_EVENT_BUS"]); !strings.Contains(got, "JobEventsBus") {
		t.Errorf("PROMPTQ_EVENT_BUS = %s, want the bus", got)
	}

	var mapping map[string]any
	for _, m := range s.resources("AWS::Lambda::EventSourceMapping") {
		if strings.Contains(s.str(m.props()["EventSourceArn"]), "Jobs.StreamArn") {
			mapping = m.props()
		}
	}
	if mapping == nil {
		t.Fatal("no event source mapping on the jobs table's stream")
	}
	for key, want := range map[string]any{
		"StartingPosition":           "TRIM_HORIZON",
		"BisectBatchOnFunctionError": true,
		"MaximumRetryAttempts":       10.0,
		"BatchSize":                  100.0,
	} {
		if mapping[key] != want {
			t.Errorf("mapping %s = %v, want %v", key, mapping[key], want)
		}
	}
	if got := s.str(mapping["FunctionResponseTypes"]); !strings.Contains(got, "ReportBatchItemFailures") {
		t.Errorf("FunctionResponseTypes = %s, want ReportBatchItemFailures", got)
	}
	if got := s.str(mapping["DestinationConfig"]); !strings.Contains(got, "JobEventsFailed") {
		t.Errorf("DestinationConfig = %s, want the JobEventsFailed queue", got)
	}
	filters := list(mapping["FilterCriteria"].(map[string]any)["Filters"])
	if len(filters) != 1 {
		t.Fatalf("filters %v, want one", filters)
	}
	var pattern any
	if err := json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &pattern); err != nil {
		t.Fatal(err)
	}
	want := `{"dynamodb":{"NewImage":{"status":{"S":["succeeded","failed","cancelled"]}},"OldImage":{"status":{"S":["queued","running"]}}},"eventName":["MODIFY"]}`
	if got, _ := json.Marshal(pattern); string(got) != want {
		t.Errorf("filter pattern\n got %s\nwant %s", got, want)
	}
}

func TestTheDashboardShowsEachPartOfThePipeline(t *testing.T) {
	s := defaultStack(t)
	var body string
	for _, d := range s.resources("AWS::CloudWatch::Dashboard") {
		body = s.str(d.props()["DashboardBody"])
	}
	for _, want := range []string{
		`"4XXError"`, `"5XXError"`, `"Latency"`, // API
		`"ApproximateNumberOfMessagesVisible"`, `"ApproximateAgeOfOldestMessage"`, // lanes, DLQ
		`"ConcurrentExecutions"`, `"Throttles"`, `"Duration"`, `"Errors"`, // worker
		`MetricName=\"ModelThrottles\"`,
		`"QueueWait"`, `"JobDuration"`, `"p95"`, `"p50"`,
		`MetricName=\"InputTokens\"`, `MetricName=\"OutputTokens\"`, `MetricName=\"JobsFailed\"`, `MetricName=\"JobsFinished\"`,
		`"IteratorAge"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	for _, alarm := range []string{"JobEventsErrors", "JobEventsNotDelivered", "JobEventsBehind"} {
		_, a := s.byName(t, alarm)
		if !strings.Contains(s.str(a.props()["AlarmActions"]), "Alarms") {
			t.Errorf("%s does not notify the alarm topic", alarm)
		}
	}
}
