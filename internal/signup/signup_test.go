package signup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/signup"
)

func TestCheckFollowsTheMode(t *testing.T) {
	t.Parallel()
	domains, err := signup.New(signup.ModeDomains, []string{"Example.com", " corp.example.org "})
	if err != nil {
		t.Fatal(err)
	}
	kumo, _ := signup.New(signup.ModeDomains, []string{"kumo.dev"})
	ibm, _ := signup.New(signup.ModeDomains, []string{"ibm.com"})
	invite, _ := signup.New(signup.ModeInvite, nil)
	open, _ := signup.New(signup.ModeOpen, nil)
	tests := []struct {
		name   string
		p      signup.Policy
		source string
		email  string
		want   string // "" allowed, else part of the refusal
	}{
		{"open takes anyone", open, signup.SourceSignUp, "a@anywhere.net", ""},
		{"a listed domain", domains, signup.SourceSignUp, "a@example.com", ""},
		{"domains compare without case", domains, signup.SourceSignUp, "A@EXAMPLE.COM", ""},
		{"the second domain", domains, signup.SourceSignUp, "b@corp.example.org", ""},
		{"another domain", domains, signup.SourceSignUp, "a@elsewhere.net", "example.com or corp.example.org only"},
		{"a subdomain is another domain", domains, signup.SourceSignUp, "a@mail.example.com", "only"},
		{"a look-alike", domains, signup.SourceSignUp, "a@example.com.evil.net", "only"},
		{"two @", domains, signup.SourceSignUp, "a@evil.net@example.com", "only"},
		// Unicode case rules would fold these into a listed domain.
		{"a Kelvin sign for k", kumo, signup.SourceSignUp, "eve@\u212Aumo.dev", "kumo.dev only"},
		{"a dotted capital I for i", ibm, signup.SourceSignUp, "eve@\u0130bm.com", "ibm.com only"},
		{"a dotless i", ibm, signup.SourceSignUp, "eve@\u0131bm.com", "only"},
		{"a full-width letter", domains, signup.SourceSignUp, "a@\uFF25xample.com", "only"},
		{"any non-ASCII domain", domains, signup.SourceSignUp, "a@exämple.com", "only"},
		{"a non-ASCII local part at a listed domain", domains, signup.SourceSignUp, "jürgen@example.com", ""},
		{"plus-addressing is the same domain", domains, signup.SourceSignUp, "a+two@example.com", ""},
		{"no address", domains, signup.SourceSignUp, "", "only"},
		{"an administrator's user", domains, signup.SourceAdminCreateUser, "a@elsewhere.net", ""},
		{"invite refuses sign-up", invite, signup.SourceSignUp, "a@example.com", "invitation only"},
		{"invite takes an administrator's user", invite, signup.SourceAdminCreateUser, "a@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Check(tt.source, tt.email)
			var refused *signup.RefusedError
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (!errors.As(err, &refused) || !strings.Contains(refused.Message, tt.want)):
				t.Errorf("got %v, want a refusal saying %q", err, tt.want)
			}
		})
	}
}

// TestHandlerTakesCognitosEvent runs the trigger on the event Cognito
// sends (testdata/pre-signup.json) and checks what it answers and logs.
func TestHandlerTakesCognitosEvent(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/pre-signup.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CognitoEventUserPoolsPreSignup
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	allow, _ := signup.New(signup.ModeDomains, []string{"example.com"})
	out, err := signup.Handler(allow, log)(t.Context(), ev)
	if err != nil {
		t.Fatalf("an address at example.com was refused: %v", err)
	}
	if out.Response.AutoConfirmUser || out.Response.AutoVerifyEmail {
		t.Errorf("response %+v: the user must still confirm their address", out.Response)
	}
	refuse, _ := signup.New(signup.ModeDomains, []string{"example.org"})
	if _, err := signup.Handler(refuse, log)(t.Context(), ev); err == nil || !strings.Contains(err.Error(), "example.org only") {
		t.Errorf("an address at example.com with only example.org allowed: %v", err)
	}
	if strings.Contains(strings.ToLower(logs.String()), "new.user") || !strings.Contains(logs.String(), `"domain":"example.com"`) {
		t.Errorf("logs carry the address, or not its domain:\n%s", logs.String())
	}
}
