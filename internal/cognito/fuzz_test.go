package cognito

import (
	"errors"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

// FuzzVerify feeds the verifier arbitrary token strings, seeded with a
// valid token and mangled forms of it. Whatever comes in, Verify must not
// panic, must refuse it as the caller's fault (401, never a 5xx), and must
// not echo it. Only the unmodified valid token may pass.
func FuzzVerify(f *testing.F) {
	s := newJWKSServer(f, "key-a")
	clock := newFakeClock()
	v := newTestVerifier(f, s, clock)
	valid := rs256("key-a", accessClaims(s, clock))
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6ImtleS1hIn0." + parts[1] + "." + parts[2],
		"x.y.z", "", ".", "..", "\x00", strings.Repeat("a", 20000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(t.Context(), token)
		if err == nil {
			if token != valid {
				t.Fatalf("accepted a token that is not the valid one: %q (sub %s)", token, p.Sub)
			}
			return
		}
		var e *jobs.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not a *jobs.Error", err)
		}
		if e.Kind != jobs.KindUnauthorized {
			t.Fatalf("kind %s for %q, want unauthorized", e.Kind, token)
		}
		if len(token) > 8 && strings.Contains(err.Error(), token) {
			t.Fatalf("the error echoes the token: %v", err)
		}
	})
}
