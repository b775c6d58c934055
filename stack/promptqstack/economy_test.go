package promptqstack_test

import (
	"strings"
	"testing"
)

// TestTheEconomyLane checks the economy lane's resources where their
// security lives: Bedrock may assume the service role only for this
// account's model invocation jobs; the run files' bucket is private,
// encrypted, TLS-only, logged and expires its files; only promptq's runs'
// state changes reach the completion function; failed runs raise an alarm.
// A stack without the lane has none of it, and its API and rescuer no
// economy queue.
func TestTheEconomyLane(t *testing.T) {
	s := defaultStack(t)
	_, role := s.byName(t, "EconomyServiceRole")
	trust := s.str(role.props()["AssumeRolePolicyDocument"])
	for _, want := range []string{`"Service":"bedrock.amazonaws.com"`, `"aws:SourceAccount"`, `"aws:SourceArn"`, `:model-invocation-job/*`} {
		if !strings.Contains(trust, want) {
			t.Errorf("the service role's trust policy lacks %s: %s", want, trust)
		}
	}
	_, bucket := s.byName(t, "EconomyRuns")
	b := s.str(bucket.props())
	for _, want := range []string{`"BlockPublicAcls":true`, `"RestrictPublicBuckets":true`, `"SSEAlgorithm":"AES256"`,
		`"ExpirationInDays":14`, `"LogFilePrefix":"economy-runs/"`} {
		if !strings.Contains(b, want) {
			t.Errorf("the run files' bucket lacks %s: %s", want, b)
		}
	}
	_, rule := s.byName(t, "EconomyRunStateChange")
	pattern := s.str(rule.props()["EventPattern"])
	for _, want := range []string{`"source":["aws.bedrock"]`, `"detail-type":["Batch Inference Job State Change"]`, `"prefix":"promptq-"`} {
		if !strings.Contains(pattern, want) {
			t.Errorf("the runs' event rule lacks %s: %s", want, pattern)
		}
	}
	_, alarm := s.byName(t, "EconomyRunsFailed")
	if got := s.str(alarm.props()["MetricName"]); !strings.Contains(got, "EconomyRunsFailed") {
		t.Errorf("the failed-runs alarm watches %s", got)
	}

	v := variantStack(t)
	for _, typ := range []string{"AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Lambda::Function", "AWS::IAM::Role"} {
		for id := range v.resources(typ) {
			if name := v.name(id); strings.HasPrefix(name, "Economy") || strings.HasPrefix(name, "Collector") || strings.HasPrefix(name, "Completion") {
				t.Errorf("a stack without the economy lane has %s", name)
			}
		}
	}
	_, api := v.byName(t, "ApiFunction")
	if env := v.str(api.props()["Environment"]); strings.Contains(env, "PROMPTQ_ECONOMY_QUEUE_URL") {
		t.Errorf("without the economy lane the API still has its queue: %s", env)
	}
}
