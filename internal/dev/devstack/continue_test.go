package devstack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
)

// TestAnAnswerLongerThanThreeDeadlinesIsContinuedToTheEnd runs the dev
// stack with a 3-second worker deadline (1 s of it the margin) and a local
// model that writes 10 words a second, and asks for an answer of about 90
// words: about 9 s of writing, so at least four invocations. The job
// succeeds with the whole answer once, in order (no repeated beginning);
// its output tokens are its words; every continuation is counted and
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
	u := signUp(t, info, out, nil)

	var words []string
	for i := range 80 {
		words = append(words, fmt.Sprintf("w%02d", i))
	}
	answer := strings.Join(words, " ")
	id := submit(t, info, u, "promptq-echo\n"+answer)

	// Poll as a viewer would, until the job ends.
	var seen []string
	var j struct {
		job
		Continuations int `json:"continuations"`
	}
	for {
		if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+id, u.access, nil, &j); code != http.StatusOK {
			t.Fatalf("GET /jobs/%s: %d", id, code)
		}
		if len(seen) == 0 || seen[len(seen)-1] != j.GeneratedText {
			seen = append(seen, j.GeneratedText)
		}
		if j.Status == "succeeded" || j.Status == "failed" || j.Status == "cancelled" {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("job %s still %s", id, j.Status)
		case <-time.After(250 * time.Millisecond): // under the per-user request rate (10 a second)
		}
	}
	if j.Status != "succeeded" {
		t.Fatalf("job %s %s: %+v", id, j.Status, j.Error)
	}
	if !strings.HasSuffix(j.GeneratedText, "\n\n"+answer) || strings.Count(j.GeneratedText, "w00") != 1 ||
		strings.Count(j.GeneratedText, "[promptq local model") != 1 {
		t.Errorf("text %q: want the banner, then the answer, once", j.GeneratedText)
	}
	if got, want := j.Tokens.Output, len(strings.Fields(j.GeneratedText)); got != want {
		t.Errorf("output tokens %d, want %d (the words written)", got, want)
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
	t.Logf("%d continuations over %d attempts; %d distinct texts seen", j.Continuations, j.Attempts, len(seen))
}
