package devstack_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
)

// TestAJobStoredButNeverQueuedIsRunByTheRescuer stores a job the way the
// API does and sends no message, as when the API's process dies between
// the two: the dev stack's rescuer must find it and the worker run it.
func TestAJobStoredButNeverQueuedIsRunByTheRescuer(t *testing.T) {
	t.Parallel()
	env := stackEnv(t, t.TempDir())
	env["PROMPTQ_DEV_WORKER_TIMEOUT"] = "1s" // a 6 s visibility timeout
	env["PROMPTQ_DEADLINE_MARGIN"] = "200ms"
	env["PROMPTQ_RESCUE_AFTER"] = "7s"
	env["PROMPTQ_DEV_RESCUE_EVERY"] = "1s"
	env["PROMPTQ_DEV_POLL_WAIT"] = "1s"
	s, out := startStack(t, env)
	info := s.Info()
	u := signUp(t, info, out, nil)

	store := dynamo.New(standin.DynamoDB(info.DynamoDBEndpoint), devstack.TableName, dynamo.Options{})
	const prompt = "Say you were rescued"
	j, _, err := store.Create(t.Context(), jobs.Job{
		ID: jobs.NewID(), Owner: subOf(t, u.access), Prompt: prompt, Model: localmodel.ID, MaxTokens: 64,
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := finished(t, info, u, j.ID)
	checkLocalAnswer(t, got, prompt)
	if got.Attempts != 1 {
		t.Errorf("attempts %d, want 1", got.Attempts)
	}
}

// subOf reads the sub claim of a token the stand-in issued (the API
// verifies tokens; this test only needs the owner's id).
func subOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Sub == "" {
		t.Fatalf("claims %s: %v", b, err)
	}
	return claims.Sub
}
