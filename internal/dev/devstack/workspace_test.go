package devstack_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestTheWorkspacesAPIOverTheWire runs what the web app's workspace asks
// of the API against the dev stack (the API behind its gateway, kumo's
// DynamoDB and SQS, the worker and the local model), one user each.
func TestTheWorkspacesAPIOverTheWire(t *testing.T) {
	t.Parallel()
	s, out := startStack(t, stackEnv(t, t.TempDir()))
	info := s.Info()

	// A job that stopped at max_tokens is continued by a new job that
	// starts with its text and goes on from where it stopped.
	t.Run("continue an answer cut at max_tokens", func(t *testing.T) {
		u := signUp(t, info, out, nil)
		var sent job
		if code := call(t, http.MethodPost, info.APIURL+"/generate", u.access,
			map[string]any{"prompt": "promptq-echo\none two three four five six seven eight nine ten eleven twelve", "max_tokens": 12}, &sent); code != http.StatusAccepted {
			t.Fatalf("POST /generate: %d", code)
		}
		cut := finished(t, info, u, sent.JobID)
		if cut.Status != "succeeded" || cut.StopReason != "max_tokens" {
			t.Fatalf("the first job: %s, stopped %q; want succeeded at max_tokens", cut.Status, cut.StopReason)
		}
		var more struct {
			JobID string `json:"job_id"`
		}
		if code := call(t, http.MethodPost, info.APIURL+"/generate", u.access, map[string]any{"continue": cut.JobID, "max_tokens": 100}, &more); code != http.StatusAccepted {
			t.Fatalf("POST /generate continue: %d", code)
		}
		j := finished(t, info, u, more.JobID)
		if j.Status != "succeeded" || j.StopReason != "end_turn" || !strings.HasPrefix(j.GeneratedText, cut.GeneratedText) ||
			!strings.HasSuffix(j.GeneratedText, "eleven twelve") || strings.Count(j.GeneratedText, "one two") != 1 {
			t.Errorf("the continuation: %s, stopped %q, text %q; want the first job's text, then the rest once", j.Status, j.StopReason, j.GeneratedText)
		}
		// The text so far went to the model as input; the output is what
		// came after it.
		if j.Tokens.Output != len(strings.Fields(j.GeneratedText))-len(strings.Fields(cut.GeneratedText)) {
			t.Errorf("output tokens %d for %q after %q", j.Tokens.Output, j.GeneratedText, cut.GeneratedText)
		}
		var again job
		if code := call(t, http.MethodPost, info.APIURL+"/generate", u.access, map[string]any{"continue": more.JobID}, &again); code != http.StatusConflict {
			t.Errorf("continuing a complete answer: %d, want 409", code)
		}
	})
}
