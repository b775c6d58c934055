package devstack_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
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

	// A job a worker gives back says why it waits and what comes next:
	// a try that failed (which, of how many, why, and when the next is),
	// or a throttle.
	t.Run("a job given back says why it waits", func(t *testing.T) {
		u := signUp(t, info, out, nil)
		for _, tc := range []struct {
			prompt, reason string
		}{
			{"Half, then an error. promptq-fault:midstream", "retry"},
			{"Throttled once. promptq-fault:throttle-once", "throttled"},
		} {
			id := submit(t, info, u, tc.prompt)
			var seen *waiting
			for deadline := time.Now().Add(time.Minute); seen == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				var j struct {
					Status  string
					Waiting *waiting
				}
				call(t, http.MethodGet, info.APIURL+"/jobs/"+id, u.access, nil, &j)
				if j.Status == "queued" && j.Waiting != nil {
					seen = j.Waiting
				}
			}
			switch {
			case seen == nil:
				t.Errorf("%s: never seen waiting", tc.prompt)
			case seen.Reason != tc.reason || seen.Until.IsZero():
				t.Errorf("%s: waiting %+v, want %s with when it comes back", tc.prompt, seen, tc.reason)
			case tc.reason == "retry" && (seen.Attempt != 1 || seen.MaxAttempts != 5 || !strings.Contains(seen.Error, "midstream")):
				t.Errorf("%s: waiting %+v, want try 1 of 5, with what failed", tc.prompt, seen)
			}
			if tc.reason == "throttled" {
				if j := finished(t, info, u, id); j.Status != "succeeded" {
					t.Errorf("after its throttle: %s", j.Status)
				}
			} else {
				call(t, http.MethodPost, info.APIURL+"/jobs/"+id+"/cancel", u.access, nil, nil)
			}
		}
	})

	// Every job says what it was charged, one cancelled while the model
	// wrote and one that failed too, and the day's jobs add up to GET
	// /usage.
	t.Run("the day's jobs add up to its usage", func(t *testing.T) {
		u := signUp(t, info, out, nil)
		ok := submit(t, info, u, "A short answer, please.")
		bad := submit(t, info, u, "This one breaks. promptq-fault:invalid")
		hung := submit(t, info, u, "Wait for me. promptq-fault:hang")
		for {
			var j job
			call(t, http.MethodGet, info.APIURL+"/jobs/"+hung, u.access, nil, &j)
			if j.Status == "running" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code := call(t, http.MethodPost, info.APIURL+"/jobs/"+hung+"/cancel", u.access, nil, nil); code != http.StatusOK {
			t.Fatalf("cancel: %d", code)
		}
		for _, id := range []string{ok, bad} {
			finished(t, info, u, id)
		}
		// The cancelled job's worker charges the call it stopped.
		var c charged
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			var j struct{ Charged charged }
			call(t, http.MethodGet, info.APIURL+"/jobs/"+hung, u.access, nil, &j)
			if c = j.Charged; !c.Pending || time.Now().After(deadline) {
				break
			}
		}
		if c.Pending || c.Tokens == 0 || c.Input == 0 {
			t.Errorf("the job cancelled while it ran: charged %+v; want what its call used, final", c)
		}
		var list struct {
			Jobs []struct {
				JobID   string `json:"job_id"`
				Status  string
				Charged *charged
			}
		}
		call(t, http.MethodGet, info.APIURL+"/jobs?limit=100", u.access, nil, &list)
		sum := 0
		for _, j := range list.Jobs {
			if j.Charged == nil {
				t.Fatalf("job %s (%s) says nothing of its charge", j.JobID, j.Status)
			}
			sum += j.Charged.Tokens
		}
		var usage struct {
			Tokens struct{ Charged int }
		}
		call(t, http.MethodGet, info.APIURL+"/usage", u.access, nil, &usage)
		if len(list.Jobs) != 3 || sum != usage.Tokens.Charged || sum == 0 {
			t.Errorf("%d jobs charged %d tokens in all; GET /usage says %d", len(list.Jobs), sum, usage.Tokens.Charged)
		}
	})
}

// waiting is why a queued job waits, as the API says it.
type waiting struct {
	Reason      string
	Until       time.Time
	Attempt     int
	MaxAttempts int `json:"max_attempts"`
	Error       string
}

// charged is a job's charge as the API says it.
type charged struct {
	Tokens, Input, Output int
	Pending               bool
}
