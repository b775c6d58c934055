package promptqstack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// acceptedLintWarnings are the cfn-lint warnings the synthesized template
// may carry, each with why. Any other warning, and every error, fails the
// test.
var acceptedLintWarnings = map[string]string{
	// "X dependency already enforced by a 'GetAtt'": CDK's Function writes
	// DependsOn on its role next to the GetAtt of the role's ARN, for this
	// stack's three functions and CDK's own two handlers (bucket
	// deployment, auto-delete). The DependsOn is there so the role's
	// policy exists before the function starts; for the role itself it is
	// redundant, not wrong, and it is not this stack's to remove.
	"W3005": "CDK's redundant DependsOn on each function's role",
}

// lintFinding is one entry of cfn-lint's --format json output.
type lintFinding struct {
	Level   string
	Message string
	Rule    struct {
		ID string `json:"Id"`
	}
	Location struct{ Path []any }
}

// TestTemplatePassesCfnLint runs cfn-lint (AWS's CloudFormation linter,
// which checks properties and values against each resource's schema) on
// the default and the configured template, as `make test-stack` does
// next to cdk-nag.
func TestTemplatePassesCfnLint(t *testing.T) {
	lint := cfnLint(t)
	for _, tc := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{
		{"default", defaultStack},
		{"configured", variantStack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, accepted := lintTemplate(t, lint, filepath.Join(tc.s(t).outDir, "Promptq.template.json"))
			for _, p := range problems {
				t.Error(p)
			}
			for id, n := range accepted {
				t.Logf("accepted %d × %s: %s", n, id, acceptedLintWarnings[id])
			}
		})
	}
}

// TestTheLintCheckFailsOnAnError: a template with a property its resource
// does not have must fail the check (so the test above can fail at all).
func TestTheLintCheckFailsOnAnError(t *testing.T) {
	lint := cfnLint(t)
	path := filepath.Join(t.TempDir(), "bad.template.json")
	bad := `{"Resources":{"Q":{"Type":"AWS::SQS::Queue","Properties":{"VisibilityTimeoutMinutes":5}}}}`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, _ := lintTemplate(t, lint, path)
	if len(problems) == 0 || !strings.Contains(problems[0], "error E3002 at Resources/Q/Properties/VisibilityTimeoutMinutes") {
		t.Errorf("problems %q, want cfn-lint's E3002 on the unknown property", problems)
	}
}

// lintTemplate runs cfn-lint on path and returns its errors and the
// warnings not accepted, one line each, and how many accepted warnings of
// each rule it found.
func lintTemplate(t *testing.T, lint, path string) (problems []string, accepted map[string]int) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), lint, "--format", "json", "--non-zero-exit-code", "none", path).Output()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", path, err, out)
	}
	var findings []lintFinding
	if err := json.Unmarshal(out, &findings); err != nil {
		t.Fatalf("cfn-lint output is not JSON: %v\n%s", err, out)
	}
	accepted = map[string]int{}
	for _, f := range findings {
		if _, ok := acceptedLintWarnings[f.Rule.ID]; ok && f.Level == "Warning" {
			accepted[f.Rule.ID]++
			continue
		}
		if f.Level != "Error" && f.Level != "Warning" {
			continue // informational
		}
		where := make([]string, len(f.Location.Path))
		for i, p := range f.Location.Path {
			where[i] = fmt.Sprint(p)
		}
		problems = append(problems, fmt.Sprintf("cfn-lint %s %s at %s: %s", strings.ToLower(f.Level), f.Rule.ID, strings.Join(where, "/"), f.Message))
	}
	return problems, accepted
}

// cfnLint finds cfn-lint: $PROMPTQ_CFN_LINT (which `make test-stack` sets
// to the pinned one it installed), else the PATH. Missing, the test fails
// under make and is skipped, with how to get it, in a plain go test.
func cfnLint(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMPTQ_CFN_LINT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PROMPTQ_CFN_LINT: %v", err)
		}
		return p
	}
	p, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed; `make test-stack` installs the pinned version into .tools/")
	}
	return p
}
