package promptqstack_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

func TestCdkNagAwsSolutionsHasNoUnsuppressedFindings(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{
		{"default", defaultStack},
		{"configured", variantStack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			ann := assertions.Annotations_FromStack(s.stack.Stack)
			match := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for level, found := range map[string]func() []string{
				"error":   func() []string { return messages(ann.FindError(jsii.String("*"), match)) },
				"warning": func() []string { return messages(ann.FindWarning(jsii.String("*"), match)) },
			} {
				for _, m := range found() {
					t.Errorf("unsuppressed cdk-nag %s: %s", level, m)
				}
			}
		})
	}
}

// messages are "construct path: rule[finding]" lines.
func messages(found *[]*cxapi.SynthesisMessage) []string {
	if found == nil {
		return nil
	}
	var out []string
	for _, m := range *found {
		rule, _, _ := strings.Cut(fmt.Sprint(m.Entry.Data), ": ")
		out = append(out, *m.Id+": "+rule)
	}
	return out
}

// TestEverySuppressionIsDeliberateAndExplained lists what is suppressed
// where, so a new suppression shows up in review as a change to this test.
func TestEverySuppressionIsDeliberateAndExplained(t *testing.T) {
	s := defaultStack(t)
	var got []string
	for id, r := range s.resources("") {
		nag, _ := r.metadata("cdk_nag").(map[string]any)
		for _, sup := range list(nag["rules_to_suppress"]) {
			m := sup.(map[string]any)
			reason, _ := m["reason"].(string)
			if len(strings.Fields(reason)) < 8 {
				t.Errorf("%s: suppression of %v has no real reason: %q", s.name(id), m["id"], reason)
			}
			got = append(got, fmt.Sprintf("%s %s", m["id"], s.name(id)))
		}
	}
	sort.Strings(got)
	got = slices.Compact(got)
	deployHandler := ""
	for _, g := range got {
		if strings.Contains(g, "Custom::CDKBucketDeployment") {
			deployHandler = strings.Fields(g)[1]
			deployHandler = deployHandler[:strings.Index(deployHandler, "MiB")+3]
			break
		}
	}
	want := []string{
		"AwsSolutions-COG2 Users",
		"AwsSolutions-COG8 Users",
		"AwsSolutions-APIG3 Api",
		"AwsSolutions-IAM4 Api/CloudWatchRole",
		"AwsSolutions-S1 AccessLogs",
		"AwsSolutions-CFR1 Cdn",
		"AwsSolutions-CFR2 Cdn",
		"AwsSolutions-CFR4 Cdn",
		"AwsSolutions-IAM4 " + deployHandler,
		"AwsSolutions-IAM5 " + deployHandler,
		"AwsSolutions-L1 " + deployHandler,
		"AwsSolutions-SQS3 JobEventsFailed",
		"AwsSolutions-SQS3 EconomyQueue",
		"AwsSolutions-IAM5 EconomyServiceRole",
		"AwsSolutions-IAM5 CollectorFunctionRole",
		"AwsSolutions-IAM5 CompletionFunctionRole",
	}
	// A suppression on a construct is copied onto each resource below it.
	var top []string
	for _, g := range got {
		if slices.Contains(want, g) {
			top = append(top, g)
			continue
		}
		if !covered(g, want) {
			t.Errorf("unexpected suppression: %s", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(top, w) {
			t.Errorf("expected suppression missing: %s", w)
		}
	}
}

// covered says whether g is a suppression inherited from one in want (the
// same rule on a parent construct path).
func covered(g string, want []string) bool {
	rule, path, _ := strings.Cut(g, " ")
	for _, w := range want {
		wr, wp, _ := strings.Cut(w, " ")
		if wr == rule && strings.HasPrefix(path, wp+"/") {
			return true
		}
	}
	return false
}
