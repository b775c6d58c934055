package promptqstack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/stack/promptqstack"
)

// Synthesis starts node and loads aws-cdk-lib (seconds), so the tests share
// one synthesis per configuration instead of one per test.

var (
	tmpRoot string

	defaultOnce sync.Once
	defaultApp  *synthesized
	defaultErr  error

	variantOnce sync.Once
	variantApp  *synthesized
	variantErr  error

	inviteOnce sync.Once
	inviteApp  *synthesized
	inviteErr  error
)

func TestMain(m *testing.M) {
	var err error
	tmpRoot, err = os.MkdirTemp("", "promptq-stack-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	if os.Getenv("PROMPTQ_STACK_TEST_KEEP") != "" {
		// To read the synthesized assemblies after a failure.
		fmt.Fprintln(os.Stderr, "kept", tmpRoot)
	} else {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// synthesized is one synthesized app: the assertions template, the same
// template as plain JSON for readable comparisons, and the assembly folder.
type synthesized struct {
	cfg      promptqstack.Config
	stack    *promptqstack.Stack
	template assertions.Template
	tpl      map[string]any
	outDir   string
	// names maps logical ids to construct paths below the stack
	// ("Jobs", "ApiFunctionRole/DefaultPolicy"), so expectations read as
	// the code does.
	names map[string]string
}

// defaultStack is the stack `make deploy` builds when no context is given.
func defaultStack(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() {
		defaultApp, defaultErr = synthesize("default", nil, func(c *promptqstack.Config) {})
	})
	if defaultErr != nil {
		t.Fatalf("synthesize the default stack: %v", defaultErr)
	}
	return defaultApp
}

// variantModels are an inference profile with configured regions, one
// without, and a plain foundation model.
var variantModels = []string{
	"us.anthropic.claude-haiku-4-5-20251001-v1:0",
	"eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
	"anthropic.claude-haiku-5-5",
}

// variantEnv is the variant's account and region. `cdk deploy` synthesizes
// with the caller's account and region (and `cdk synth` with at least a
// region), so ARNs and cdk-nag findings carry literals there, not tokens.
var variantEnv = &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-west-2")}

// variantStack turns every option away from its default and has an
// environment, as under the CDK CLI.
func variantStack(t *testing.T) *synthesized {
	t.Helper()
	variantOnce.Do(func() {
		variantApp, variantErr = synthesize("variant", variantEnv, func(c *promptqstack.Config) {
			c.Models = variantModels
			c.DefaultModel = variantModels[2]
			c.AlarmEmail = "ops@example.com"
			c.DeletionProtection = true
			c.APIGatewayLogRole = false
			c.WebDir = "" // placeholder page
			c.Quota = quota.Quota{Concurrency: 40, TokensPerMinute: 400_000, InteractiveShare: 0.1}
			c.FairShares = false
			c.MaxReceiveCount = 3
			c.WAFRateLimit = 1200
			c.StackTokensPerDay = 5_000_000
			c.StackBudgetAlarmPercent = 50
			c.SignUp = promptqstack.SignUpDomains
			c.SignUpDomains = []string{"example.com", "example.org"}
			c.Economy = false
		})
	})
	if variantErr != nil {
		t.Fatalf("synthesize the variant stack: %v", variantErr)
	}
	return variantApp
}

// inviteStack is the default stack with invitation-only sign-up.
func inviteStack(t *testing.T) *synthesized {
	t.Helper()
	inviteOnce.Do(func() {
		inviteApp, inviteErr = synthesize("invite", nil, func(c *promptqstack.Config) {
			c.SignUp = promptqstack.SignUpInvite
		})
	})
	if inviteErr != nil {
		t.Fatalf("synthesize the invitation-only stack: %v", inviteErr)
	}
	return inviteApp
}

// synthesize builds the stack with the feature flags of ../cdk.json, dummy
// bootstrap binaries, a web/ of index.html and the real headers file, and
// cdk-nag's AwsSolutions pack, the way `cdk synth` runs it. Panics from jsii become errors.
func synthesize(name string, env *awscdk.Environment, mutate func(*promptqstack.Config)) (s *synthesized, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v%s", r, validationReport(r))
		}
	}()
	dir := filepath.Join(tmpRoot, name)
	// The real headers file: the stack must serve what web/ defines.
	headers, err := os.ReadFile(filepath.Join("..", "..", "web", promptqstack.HeadersFile))
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ path, body string }{
		{"bin/api/bootstrap", "not a real binary"},
		{"bin/worker/bootstrap", "not a real binary"},
		{"bin/rescuer/bootstrap", "not a real binary"},
		{"bin/presignup/bootstrap", "not a real binary"},
		{"bin/jobevents/bootstrap", "not a real binary"},
		{"bin/collector/bootstrap", "not a real binary"},
		{"bin/completion/bootstrap", "not a real binary"},
		{"web/index.html", "<!doctype html><title>promptq</title>"},
		{"web/" + promptqstack.HeadersFile, string(headers)},
	} {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(f.body), 0o755); err != nil {
			return nil, err
		}
	}
	cfg := promptqstack.DefaultConfig()
	cfg.APIAsset = filepath.Join(dir, "bin/api")
	cfg.WorkerAsset = filepath.Join(dir, "bin/worker")
	cfg.RescuerAsset = filepath.Join(dir, "bin/rescuer")
	cfg.PresignupAsset = filepath.Join(dir, "bin/presignup")
	cfg.JobEventsAsset = filepath.Join(dir, "bin/jobevents")
	cfg.CollectorAsset = filepath.Join(dir, "bin/collector")
	cfg.CompletionAsset = filepath.Join(dir, "bin/completion")
	cfg.WebDir = filepath.Join(dir, "web")
	mutate(&cfg)

	ctx, err := cdkJSONContext()
	if err != nil {
		return nil, err
	}
	// Path metadata lets the tests name resources by construct path.
	ctx["aws:cdk:enable-path-metadata"] = true
	outDir := filepath.Join(dir, "cdk.out")
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outDir)})
	st, err := promptqstack.New(app, "Promptq", cfg, &awscdk.StackProps{Env: env})
	if err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)

	tpl := assertions.Template_FromStack(st.Stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		return nil, err
	}
	s = &synthesized{cfg: cfg, stack: st, template: tpl, outDir: outDir, names: map[string]string{}}
	if err := json.Unmarshal(raw, &s.tpl); err != nil {
		return nil, err
	}
	for id, r := range s.resources("") {
		path, _ := r.metadata("aws:cdk:path").(string)
		path = strings.TrimPrefix(path, "Promptq/")
		path = strings.TrimSuffix(path, "/Resource")
		if path != "" {
			s.names[id] = path
		}
	}
	return s, nil
}

// validationReport adds the findings of CDK's validation report to a failed
// synthesis (cdk-nag errors fail synthesis with the cdk.json flags).
func validationReport(panicked any) string {
	m := regexp.MustCompile(`found in: (\S+validation-report\.json)`).FindStringSubmatch(fmt.Sprint(panicked))
	if m == nil {
		return ""
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		return ""
	}
	var report struct {
		PluginReports []struct {
			Violations []struct {
				RuleName            string `json:"ruleName"`
				Description         string `json:"description"`
				ViolatingConstructs []struct {
					ConstructPath string `json:"constructPath"`
				} `json:"violatingConstructs"`
			} `json:"violations"`
		} `json:"pluginReports"`
	}
	if json.Unmarshal(b, &report) != nil {
		return "\n" + string(b)
	}
	var out strings.Builder
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			for _, r := range v.ViolatingConstructs {
				desc, _, _ := strings.Cut(v.Description, ": ")
				fmt.Fprintf(&out, "\n  %s: %s", r.ConstructPath, desc)
			}
		}
	}
	return out.String()
}

// cdkJSONContext is the "context" of ../cdk.json: the feature flags.
func cdkJSONContext() (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		return nil, err
	}
	var f struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	return f.Context, nil
}

// check runs one assertions call and turns its panic into a test error,
// so one failed assertion doesn't end the test binary.
func check(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s:\n%v", what, r)
		}
	}()
	assertion()
}

type resource map[string]any

func (r resource) props() map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func (r resource) metadata(key string) any {
	m, _ := r["Metadata"].(map[string]any)
	return m[key]
}

// resources of a CloudFormation type ("" for all), by logical id.
func (s *synthesized) resources(typ string) map[string]resource {
	out := map[string]resource{}
	all, _ := s.tpl["Resources"].(map[string]any)
	for id, v := range all {
		r, _ := v.(map[string]any)
		if typ == "" || r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// byName is the resource at construct path name.
func (s *synthesized) byName(t *testing.T, name string) (string, resource) {
	t.Helper()
	for id, r := range s.resources("") {
		if s.names[id] == name {
			return id, r
		}
	}
	t.Fatalf("no resource at construct path %q", name)
	return "", nil
}

// str renders a template value as one string: Ref and GetAtt become
// ${Name} and ${Name.Attr} (named by construct path), Fn::Join is joined.
// Anything else is JSON.
func (s *synthesized) str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			return "${" + s.name(ref) + "}"
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return "${" + s.name(fmt.Sprint(ga[0])) + "." + fmt.Sprint(ga[1]) + "}"
		}
		if sub, ok := v["Fn::Sub"].(string); ok {
			return sub
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			parts, _ := j[1].([]any)
			var b strings.Builder
			for i, p := range parts {
				if i > 0 {
					b.WriteString(fmt.Sprint(j[0]))
				}
				b.WriteString(s.str(p))
			}
			return b.String()
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *synthesized) name(logicalID string) string {
	if n, ok := s.names[logicalID]; ok {
		return n
	}
	return logicalID
}

// list turns a string or a list into a list.
func list(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// grants flattens policy statements into sorted "Effect action resource"
// lines, one per action and resource, so statements CDK merged or split
// compare equal.
func (s *synthesized) grants(statements []any) []string {
	var out []string
	for _, st := range statements {
		m, _ := st.(map[string]any)
		cond := ""
		if c, ok := m["Condition"]; ok {
			b, _ := json.Marshal(c) // map keys in order
			cond = " if " + string(b)
		}
		for _, a := range list(m["Action"]) {
			for _, r := range list(m["Resource"]) {
				out = append(out, fmt.Sprintf("%s %s %s%s", m["Effect"], a, s.str(r), cond))
			}
		}
	}
	sort.Strings(out)
	return out
}

// roleGrants is every statement of every AWS::IAM::Policy attached to the
// role, plus the role's inline policies and managed policy ARNs.
func (s *synthesized) roleGrants(roleID string) (grants, managed []string) {
	var statements []any
	for _, p := range s.resources("AWS::IAM::Policy") {
		for _, r := range list(p.props()["Roles"]) {
			if m, _ := r.(map[string]any); m["Ref"] == roleID {
				doc, _ := p.props()["PolicyDocument"].(map[string]any)
				statements = append(statements, list(doc["Statement"])...)
			}
		}
	}
	role := s.resources("AWS::IAM::Role")[roleID]
	for _, p := range list(role.props()["Policies"]) {
		doc, _ := p.(map[string]any)["PolicyDocument"].(map[string]any)
		statements = append(statements, list(doc["Statement"])...)
	}
	for _, m := range list(role.props()["ManagedPolicyArns"]) {
		managed = append(managed, s.str(m))
	}
	return s.grants(statements), managed
}

// diff reports what want has that got lacks and the reverse.
func diff(got, want []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "\n  missing:    %s", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "\n  unexpected: %s", g)
		}
	}
	return b.String()
}

// expand writes "Effect action resource" for each action.
func expand(effect string, actions []string, resources ...string) []string {
	var out []string
	for _, a := range actions {
		for _, r := range resources {
			out = append(out, effect+" "+a+" "+r)
		}
	}
	return out
}
