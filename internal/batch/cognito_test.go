package batch

import (
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/cognito"
	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
)

// TestLogsInToCognitoAndRefreshes runs the command against the real API
// handler verifying tokens of a cognito-local pool: the tool logs in with
// the username and password, and refreshes when told its token expired.
func TestLogsInToCognitoAndRefreshes(t *testing.T) {
	t.Parallel()
	c := standin.Cognito(t)
	const email, password = "batch@example.com", "Correct-horse-1"
	sub, err := c.Server.SignUp(t.Context(), c.Pool(), email, password)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := cognito.NewVerifier(t.Context(), cognito.VerifierConfig{Issuer: c.Issuer, ClientIDs: []string{c.ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	store := inmem.NewStore(inmem.Options{})
	h := newHandler(t, httpapi.Config{Limits: jobs.DefaultLimits(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		store, &inmem.Queue{}, nil, verifier)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	input := writeInput(t, t.TempDir(), prompts(5)...)
	var out strings.Builder
	code := Main(t.Context(), []string{"--api-url", srv.URL, "--client-id", c.ClientID, "--cognito-endpoint", c.Endpoint, input},
		env("PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", password, "PROMPTQ_DEV_DIR", t.TempDir()), &out, false)
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if strings.Contains(out.String(), password) {
		t.Errorf("the output shows the password")
	}
	page, err := store.List(t.Context(), sub, 100, "")
	if err != nil || len(page.Jobs) != 5 {
		t.Fatalf("%d jobs for the user (%v), want 5", len(page.Jobs), err)
	}

	// The login itself: a token, then a refreshed one when the API
	// refuses it or it nears expiry.
	now := time.Now()
	login := &cognitoLogin{api: newCognitoClient("us-east-1", c.Endpoint), clientID: c.ClientID,
		username: email, password: password, now: func() time.Time { return now }}
	first, err := login.Token(t.Context())
	if err != nil || first == "" {
		t.Fatalf("token %q, %v", first, err)
	}
	if _, err := verifier.Authenticate(t.Context(), first); err != nil {
		t.Errorf("the login's token does not verify: %v", err)
	}
	if login.refresh == "" {
		t.Fatal("no refresh token kept")
	}
	if err := login.Refresh(t.Context(), "some older token"); err != nil {
		t.Fatal(err)
	}
	if again, _ := login.Token(t.Context()); again != first {
		t.Errorf("a refresh for a token already replaced changed the token")
	}
	now = now.Add(24 * time.Hour) // past renewAt: the next Token renews
	renewed, err := login.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Authenticate(t.Context(), renewed); err != nil {
		t.Errorf("the refreshed token does not verify: %v", err)
	}

	bad := &cognitoLogin{api: newCognitoClient("us-east-1", c.Endpoint), clientID: c.ClientID,
		username: email, password: "Wrong-horse-2", now: time.Now}
	_, err = bad.Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "refused the username or password") || strings.Contains(err.Error(), "Wrong-horse") {
		t.Errorf("wrong password: %v", err)
	}
	if errors.Is(err, ErrUnauthorized) {
		t.Errorf("a failed login is not the API refusing a token")
	}

	// The command says the login was refused and which settings to check,
	// not to run the same command again.
	out.Reset()
	code = Main(t.Context(), []string{"--api-url", srv.URL, "--client-id", c.ClientID, "--cognito-endpoint", c.Endpoint,
		writeInput(t, t.TempDir(), prompts(2)...)},
		env("PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", "Wrong-horse-2", "PROMPTQ_DEV_DIR", t.TempDir()), &out, false)
	got := out.String()
	if code != ExitStopped || !strings.Contains(got, "the credentials were refused") || !strings.Contains(got, "Cognito refused the username or password") ||
		!strings.Contains(got, "check PROMPTQ_USERNAME and PROMPTQ_PASSWORD") || strings.Contains(got, "re-run the same command to resume") {
		t.Errorf("wrong password: exit %d, output:\n%s", code, got)
	}
	if strings.Contains(got, "Wrong-horse") {
		t.Errorf("the output shows the password:\n%s", got)
	}
}
