package promptqstack

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/quota"
)

// context is a CDK context as a map; values are what the CLI passes (-c
// gives strings, cdk.json gives JSON types).
func ctxOf(kv map[string]any) func(string) any {
	return func(key string) any { return kv[key] }
}

func TestConfigFromContextWithoutContextIsTheDefault(t *testing.T) {
	t.Parallel()
	got, err := ConfigFromContext(ctxOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, DefaultConfig()) {
		t.Errorf("got %+v, want the default %+v", got, DefaultConfig())
	}
	if got.DefaultModel != DefaultModel || !slices.Equal(got.Models, catalogue.DefaultModels) {
		t.Errorf("default models %v / %s", got.Models, got.DefaultModel)
	}
}

func TestConfigFromContextReadsStringsAndJSONTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ctx   map[string]any
		check func(t *testing.T, c Config)
	}{
		{"models as a comma list default to the first", map[string]any{CtxModels: " anthropic.claude-sonnet-4-5-20250929-v1:0 , us.anthropic.claude-haiku-4-5-20251001-v1:0 "}, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c.Models, []string{"anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0"}) || c.DefaultModel != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
				t.Errorf("models %q default %q", c.Models, c.DefaultModel)
			}
		}},
		{"models as a JSON array string, default named", map[string]any{CtxModels: `["anthropic.claude-haiku-5-5","anthropic.claude-sonnet-4-5-20250929-v1:0"]`, CtxDefaultModel: "anthropic.claude-sonnet-4-5-20250929-v1:0"}, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c.Models, []string{"anthropic.claude-haiku-5-5", "anthropic.claude-sonnet-4-5-20250929-v1:0"}) || c.DefaultModel != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
				t.Errorf("models %q default %q", c.Models, c.DefaultModel)
			}
		}},
		{"models from cdk.json", map[string]any{CtxModels: []any{"anthropic.claude-haiku-5-5"}}, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c.Models, []string{"anthropic.claude-haiku-5-5"}) {
				t.Errorf("models %q", c.Models)
			}
		}},
		{"numbers and booleans as strings", map[string]any{
			CtxModelConcurrency: "40", CtxModelTPM: "400000", CtxInteractiveShare: "0.1", CtxFairShares: "false",
			CtxBulkWaitAlarm: "90", CtxMaxReceiveCount: "7",
			CtxDeletionProtection: "true", CtxAPIGatewayLogRole: "false",
			CtxThrottleRate: "5", CtxThrottleBurst: "9", CtxAlarmEmail: "a@b.example", CtxWAFRateLimit: "1200",
		}, func(t *testing.T, c Config) {
			if c.Quota != (quota.Quota{Concurrency: 40, TokensPerMinute: 400_000, InteractiveShare: 0.1}) ||
				c.FairShares || c.BulkWaitAlarmMinutes != 90 || c.MaxReceiveCount != 7 ||
				!c.DeletionProtection || c.APIGatewayLogRole || c.ThrottleRateLimit != 5 ||
				c.ThrottleBurstLimit != 9 || c.AlarmEmail != "a@b.example" || c.WAFRateLimit != 1200 {
				t.Errorf("got %+v", c)
			}
		}},
		{"numbers and booleans from cdk.json", map[string]any{
			CtxModelConcurrency: 20.0, CtxInteractiveShare: 0.5, CtxDeletionProtection: true,
		}, func(t *testing.T, c Config) {
			if c.Quota.Concurrency != 20 || c.Quota.InteractiveShare != 0.5 || !c.DeletionProtection {
				t.Errorf("got %+v", c)
			}
		}},
		{"profile regions as a JSON string", map[string]any{
			CtxProfileRegions: `{"eu":["eu-west-1","eu-central-1"]}`,
		}, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c.ProfileRegions, map[string][]string{"eu": {"eu-west-1", "eu-central-1"}}) {
				t.Errorf("profile regions %v", c.ProfileRegions)
			}
		}},
		{"profile regions in the shell-friendly form", map[string]any{
			CtxProfileRegions: "eu=eu-west-1,eu-central-1; us=us-east-1",
		}, func(t *testing.T, c Config) {
			want := map[string][]string{"eu": {"eu-west-1", "eu-central-1"}, "us": {"us-east-1"}}
			if !reflect.DeepEqual(c.ProfileRegions, want) {
				t.Errorf("profile regions %v", c.ProfileRegions)
			}
		}},
		{"profile regions as JSON", map[string]any{
			CtxProfileRegions: map[string]any{"us": []any{"us-east-1"}},
		}, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c.ProfileRegions, map[string][]string{"us": {"us-east-1"}}) {
				t.Errorf("profile regions %v", c.ProfileRegions)
			}
		}},
		{"sign-up domains as a comma list, lower-cased", map[string]any{
			CtxSignUp: "domains", CtxSignUpDomains: "Example.com, example.org",
		}, func(t *testing.T, c Config) {
			if c.SignUp != SignUpDomains || !reflect.DeepEqual(c.SignUpDomains, []string{"example.com", "example.org"}) {
				t.Errorf("sign-up %q domains %q", c.SignUp, c.SignUpDomains)
			}
		}},
		{"invitation only", map[string]any{CtxSignUp: "invite"}, func(t *testing.T, c Config) {
			if c.SignUp != SignUpInvite {
				t.Errorf("sign-up %q", c.SignUp)
			}
		}},
		{"asset and web folders", map[string]any{
			CtxAPIAsset: "/a", CtxWorkerAsset: "/w", CtxRescuerAsset: "/r", CtxWebDir: "/web",
		}, func(t *testing.T, c Config) {
			if c.APIAsset != "/a" || c.WorkerAsset != "/w" || c.RescuerAsset != "/r" || c.WebDir != "/web" {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ConfigFromContext(ctxOf(tt.ctx))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigFromContextRejectsBadValuesNamingTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"not a number", map[string]any{CtxModelConcurrency: "five"}, CtxModelConcurrency},
		{"share not a number", map[string]any{CtxInteractiveShare: "a third"}, CtxInteractiveShare},
		{"not a whole number", map[string]any{CtxMaxReceiveCount: 2.5}, CtxMaxReceiveCount},
		{"not a boolean", map[string]any{CtxDeletionProtection: "yes please"}, CtxDeletionProtection},
		{"wrong type", map[string]any{CtxAlarmEmail: 3.0}, CtxAlarmEmail},
		{"empty model list", map[string]any{CtxModels: " , "}, CtxModels},
		{"bad region map", map[string]any{CtxProfileRegions: "us-east-1"}, CtxProfileRegions},
		{"bad region JSON", map[string]any{CtxProfileRegions: `{"us":"x"`}, CtxProfileRegions},
		{"region map without regions", map[string]any{CtxProfileRegions: "us="}, CtxProfileRegions},
		{"default not allowed", map[string]any{CtxModels: "anthropic.claude-haiku-5-5", CtxDefaultModel: "b"}, "defaultModel"},
		{"a model the catalogue lacks", map[string]any{CtxModels: "us.anthropic.claude-3-5-haiku-20241022-v1:0"}, "not in the model catalogue"},
		{"the local stand-in", map[string]any{CtxModels: "promptq-local"}, "local stand-in"},
		{"too little concurrency for two lanes", map[string]any{CtxModelConcurrency: "3"}, CtxModelConcurrency},
		{"a lane past an event source's 1000", map[string]any{CtxModelConcurrency: "2000", CtxInteractiveShare: "0.25"}, "1000 at once"},
		{"a share of everything", map[string]any{CtxInteractiveShare: "1"}, CtxInteractiveShare},
		{"negative tokens per minute", map[string]any{CtxModelTPM: "-5"}, CtxModelTPM},
		{"no alarm minutes", map[string]any{CtxBulkWaitAlarm: "0"}, "bulkWaitAlarmMinutes"},
		{"a setting that is gone", map[string]any{"promptq:workerBatchSize": "5"}, "promptq:workerBatchSize is gone"},
		{"zero receives", map[string]any{CtxMaxReceiveCount: "0"}, "maxReceiveCount"},
		{"not an email", map[string]any{CtxAlarmEmail: "ops"}, "alarmEmail"},
		{"no throttle", map[string]any{CtxThrottleRate: "0"}, "throttle"},
		{"a WAF limit below what WAF takes", map[string]any{CtxWAFRateLimit: "5"}, "wafRateLimit"},
		{"a negative stack budget", map[string]any{CtxStackTokensPerDay: "-1"}, "stackTokensPerDay"},
		{"a budget alarm share over 100", map[string]any{CtxStackBudgetAlarm: "150"}, "stackBudgetAlarmPercent"},
		{"an unknown sign-up mode", map[string]any{CtxSignUp: "closed"}, "signUp"},
		{"domains mode without domains", map[string]any{CtxSignUp: "domains"}, "signUpDomains"},
		{"not a domain", map[string]any{CtxSignUp: "domains", CtxSignUpDomains: "example.com,localhost"}, `"localhost"`},
		{"domains without domains mode", map[string]any{CtxSignUpDomains: "example.com"}, "signUpDomains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ConfigFromContext(ctxOf(tt.ctx))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestResolveModelTellsProfilesFromFoundationModels(t *testing.T) {
	t.Parallel()
	regions := map[string][]string{"us": {"us-east-1", "us-west-2"}}
	tests := []struct {
		id   string
		want modelTarget
	}{
		{"us.anthropic.claude-haiku-4-5-20251001-v1:0", modelTarget{
			Profile: true, ID: "us.anthropic.claude-haiku-4-5-20251001-v1:0",
			FoundationModel: "anthropic.claude-haiku-4-5-20251001-v1:0", Regions: []string{"us-east-1", "us-west-2"},
		}},
		{"global.anthropic.claude-sonnet-4-5-20250929-v1:0", modelTarget{
			Profile: true, ID: "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
			FoundationModel: "anthropic.claude-sonnet-4-5-20250929-v1:0", Regions: []string{"*"},
		}},
		{"anthropic.claude-haiku-5-5", modelTarget{
			ID: "anthropic.claude-haiku-5-5", FoundationModel: "anthropic.claude-haiku-5-5",
		}},
		{"anthropic.claude-haiku-5-5", modelTarget{ID: "anthropic.claude-haiku-5-5", FoundationModel: "anthropic.claude-haiku-5-5"}},
	}
	for _, tt := range tests {
		if got := resolveModel(tt.id, regions); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("resolveModel(%q) = %+v, want %+v", tt.id, got, tt.want)
		}
	}
}

func TestNewSaysToRunMakeBuildWhenABinaryIsMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api", "bootstrap"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.APIAsset = filepath.Join(dir, "api")
	cfg.WorkerAsset = filepath.Join(dir, "worker")
	cfg.RescuerAsset = filepath.Join(dir, "rescuer")
	// The check comes before any construct is made, so no scope is needed.
	_, err := New(nil, "Promptq", cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("error %v, want one saying to run make build", err)
	}
	for _, missing := range []string{"worker/bootstrap", "rescuer/bootstrap"} {
		if !strings.Contains(err.Error(), missing) {
			t.Errorf("error %v does not name %s", err, missing)
		}
	}
	if strings.Contains(err.Error(), "api/bootstrap") {
		t.Errorf("error %v names api/bootstrap, which exists", err)
	}
}
