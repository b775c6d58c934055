package presignup_test

import (
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/app/presignup"
	"github.com/promptq/promptq/internal/signup"
)

func TestFromEnvNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if c, err := presignup.FromEnv(env()); err != nil || c.SignUp.Mode != signup.ModeOpen {
		t.Errorf("no settings: %+v, %v; want open", c, err)
	}
	c, err := presignup.FromEnv(env("PROMPTQ_SIGN_UP", "domains", "PROMPTQ_SIGN_UP_DOMAINS", "a.example, B.example,"))
	if err != nil || strings.Join(c.SignUp.Domains, ",") != "a.example,b.example" {
		t.Errorf("domains: %+v, %v", c, err)
	}
	for _, bad := range []struct{ mode, domains, want string }{
		{"closed", "", `sign-up mode "closed"`},
		{"domains", "", "at least one email domain"},
		{"domains", "example.com,not a domain", `"not a domain" is not an email domain`},
		{"domains", "localhost", `"localhost" is not an email domain`},
		{"domains", "\u212Aumo.dev", "is not an email domain"},
		{"open", "example.com", "only for sign-up mode"},
		{"invite", "example.com", "only for sign-up mode"},
	} {
		_, err := presignup.FromEnv(env("PROMPTQ_SIGN_UP", bad.mode, "PROMPTQ_SIGN_UP_DOMAINS", bad.domains))
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "PROMPTQ_SIGN_UP") {
			t.Errorf("%s %q: %v, want an error naming the variable and saying %q", bad.mode, bad.domains, err, bad.want)
		}
	}
}
