package devstack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
)

// TestAnAnswerLongerThanThreeDeadlinesIsContinuedToTheEnd runs the dev
// stack with a 3-second worker deadline (1 s of it the margin) and a local
// model that writes 10 words a second, and asks for an answer of about 90
// words: about 9 s of writing, so at least four invocations. It does so on
// a model that continues a prefilled turn (the local model itself) and on
// one that continues from a user turn (Claude Haiku 5.5, which the local
// model stands in for, starting each continuation a few words back). On
// both the job succeeds with the whole answer once, in order (no repeated
// beginning, the banner once); its output tokens are its words, and on the
// user-turn model the few words each continuation wrote again and the
// worker dropped, never the text again; every continuation is counted and
// logged; and a client polling the job never sees its text shrink or
// change what it already showed.
func TestAnAnswerLongerThanThreeDeadlinesIsContinuedToTheEnd(t *testing.T) {
	t.Parallel()
	env := stackEnv(t, t.TempDir())
	env["PROMPTQ_DEV_WORKER_TIMEOUT"] = "3s"
	env["PROMPTQ_DEADLINE_MARGIN"] = "1s"
	env["PROMPTQ_LOCAL_TOKENS_PER_SECOND"] = "10"
	env["PROMPTQ_DEV_POLL_WAIT"] = "1s"
	logs := &standin.Buffer{}
	s, out := startStack(t, env, logs)
	info := s.Info()

	var words []string
	for i := range 80 {
		words = append(words, fmt.Sprintf("w%02d", i))
	}
	answer := strings.Join(words, " ")
	for _, tc := range []struct {
		name, model string
		// repeat has the model start each continuation a few words back
		// (promptq-fault:repeat), for the worker to drop.
		repeat bool
	}{
		{"a prefill model, " + localmodel.ID, localmodel.ID, false},
		{"a user-turn model, Claude Haiku 5.5", "us.anthropic.claude-haiku-5-5", false},
		{"a user-turn model that repeats a few words", "us.anthropic.claude-haiku-5-5", true},
	} {
		u := signUp(t, info, out, nil) // one at a time: each reads its code from the console
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sent job
			if code := call(t, http.MethodPost, info.APIURL+"/generate", u.access,
				map[string]any{"prompt": prompt(tc.repeat) + answer, "model": tc.model}, &sent); code != http.StatusAccepted || sent.JobID == "" {
				t.Fatalf("POST /generate: %d %+v", code, sent)
			}
			id := sent.JobID
			j, seen := follow(t, info, u, id)
			if j.Status != "succeeded" {
				t.Fatalf("job %s %s: %+v", id, j.Status, j.Error)
			}
			if !strings.HasSuffix(j.GeneratedText, "\n\n"+answer) || strings.Count(j.GeneratedText, "w00") != 1 ||
				strings.Count(j.GeneratedText, localmodel.Banner) != 1 {
				t.Errorf("text %q: want the banner, then the answer, once", j.GeneratedText)
			}
			n := len(strings.Fields(j.GeneratedText))
			switch got := j.Tokens.Output; {
			case !tc.repeat && got != n:
				t.Errorf("output tokens %d, want %d (the words written)", got, n)
			case tc.repeat && (got <= n || got > n+localmodel.RepeatWords*j.Continuations):
				t.Errorf("output tokens %d for %d words over %d continuations, want more, by at most %d words a continuation",
					got, n, j.Continuations, localmodel.RepeatWords)
			}
			for i := 1; i < len(seen); i++ {
				if !strings.HasPrefix(seen[i], seen[i-1]) {
					t.Errorf("the text went back: %q, then %q", seen[i-1], seen[i])
				}
			}
			logged := 0
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `msg="continuing the job's answer"`) && strings.Contains(line, "job_id="+id) {
					logged++
					if strings.Contains(line, "w00") {
						t.Errorf("a log line carries the text: %s", line)
					}
				}
			}
			if j.Continuations < 3 || logged != j.Continuations {
				t.Errorf("%d continuations, %d logged; want at least 3, each logged", j.Continuations, logged)
			}
			t.Logf("%d continuations over %d attempts; %d output tokens for %d words; %d distinct texts seen",
				j.Continuations, j.Attempts, j.Tokens.Output, n, len(seen))
		})
	}
}

// follow polls job id as a viewer would, until it ends, and returns it and
// the distinct texts seen, in order.
func follow(t *testing.T, info devinfo.Info, u user, id string) (continuedJob, []string) {
	t.Helper()
	var seen []string
	for {
		var j continuedJob
		if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+id, u.access, nil, &j); code != http.StatusOK {
			t.Fatalf("GET /jobs/%s: %d", id, code)
		}
		if len(seen) == 0 || seen[len(seen)-1] != j.GeneratedText {
			seen = append(seen, j.GeneratedText)
		}
		if j.Status == "succeeded" || j.Status == "failed" || j.Status == "cancelled" {
			return j, seen
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("job %s still %s", id, j.Status)
		case <-time.After(250 * time.Millisecond): // under the per-user request rate (10 a second)
		}
	}
}

// continuedJob is a job as GET /jobs/{id} shows it, with its continuations.
type continuedJob struct {
	job
	Continuations int `json:"continuations"`
}

// prompt starts the echoed answer's prompt, with the repeat fault.
func prompt(repeat bool) string {
	if repeat {
		return "promptq-fault:repeat\npromptq-echo\n"
	}
	return "promptq-echo\n"
}
