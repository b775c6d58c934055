package devstack_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/jobs"
)

// TestMakeDevRunsTheProductEndToEnd starts the product as a newcomer does,
// with `make dev`, and uses it over HTTP and the Cognito API only: sign up
// with the code the runner prints, confirm, log in, submit, watch the job
// succeed, and find that another user cannot see it. Then it stops the
// runner as Ctrl-C does and checks that nothing is left running.
func TestMakeDevRunsTheProductEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := stackEnv(t, dir)
	m := startMake(t, env, "dev")
	m.out.waitFor(t, readyLine, m.exited)

	info, err := devinfo.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{
		"web_url": info.WebURL, "api_url": info.APIURL, "region": info.Region, "user_pool_id": info.UserPoolID,
		"client_id": info.ClientID, "cognito_endpoint": info.CognitoEndpoint,
		"queue_urls.interactive": info.QueueURLs[jobs.LaneInteractive], "queue_urls.bulk": info.QueueURLs[jobs.LaneBulk],
		"dlq_url": info.DLQURL, "table_name": info.TableName, "dynamodb_endpoint": info.DynamoDBEndpoint,
		"sqs_endpoint": info.SQSEndpoint,
	} {
		if v == "" {
			t.Errorf("dev.json has no %s", name)
		}
	}
	if info.MaxReceiveCount != 5 || info.PID <= 0 || info.Processes["kumo"] <= 0 || info.Processes["cognito"] <= 0 {
		t.Errorf("dev.json: max_receive_count %d, pid %d, processes %v", info.MaxReceiveCount, info.PID, info.Processes)
	}
	if !strings.Contains(m.out.String(), info.WebURL) || !strings.Contains(m.out.String(), "sign-up codes") {
		t.Errorf("the runner did not print the web URL and where sign-up codes appear:\n%s", m.out.String())
	}
	res, err := http.Get(info.WebURL + "/config.json")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /config.json: %v %v", res, err)
	}
	_ = res.Body.Close()

	alice := signUp(t, info, m.out, m.exited)
	const prompt = "Write a haiku about queues and patience"
	id := submit(t, info, alice, prompt)
	checkLocalAnswer(t, finished(t, info, alice, id), prompt)

	bob := signUp(t, info, m.out, m.exited)
	if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+id, bob.access, nil, nil); code != http.StatusNotFound {
		t.Errorf("another user's GET /jobs/%s: %d, want 404", id, code)
	}

	// Ctrl-C: the terminal signals the whole foreground process group.
	if err := syscall.Kill(-m.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	out := m.wait(t)
	if !strings.Contains(out, "promptq dev: stopped") {
		t.Errorf("the runner did not say it stopped:\n%s", out)
	}
	waitGone(t, -m.cmd.Process.Pid, "a process of make's group")
	waitGone(t, info.PID, "the dev runner")
	for role, pid := range info.Processes {
		waitGone(t, -pid, role+"'s process group")
	}
	for name, u := range map[string]string{"web app": info.WebURL, "API": info.APIURL, "kumo": info.DynamoDBEndpoint, "cognito-local": info.CognitoEndpoint} {
		host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
		host, _, _ = strings.Cut(host, "/")
		if c, err := net.Dial("tcp", host); err == nil {
			_ = c.Close()
			t.Errorf("%s's port (%s) still answers", name, host)
		}
	}
	for _, f := range []string{devinfo.FileName, "dev.lock"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left behind: %v", f, err)
		}
	}
}

// TestASecondMakeDevIsRefused runs make dev while a stack runs in the same
// dir: it must say so and fail, not trip over a busy port; make dev-reset
// must refuse too, and work once the stack has stopped.
func TestASecondMakeDevIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := stackEnv(t, dir)
	s, _ := startStack(t, env)

	second := startMake(t, stackEnv(t, dir), "dev")
	out := second.wait(t)
	want := "promptq dev is already running (pid " + strconv.Itoa(os.Getpid()) + ", web URL " + s.Info().WebURL + ")"
	if second.waitErr == nil || !strings.Contains(out, want) {
		t.Errorf("second make dev: %v, printed:\n%s\nwant a failure saying %q", second.waitErr, out, want)
	}

	reset := startMake(t, env, "dev-reset")
	out = reset.wait(t)
	if reset.waitErr == nil || !strings.Contains(out, "refused") {
		t.Errorf("make dev-reset while running: %v, printed:\n%s", reset.waitErr, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "kumo")); err != nil {
		t.Errorf("the data went while the stack ran: %v", err)
	}

	_ = s.Close()
	reset = startMake(t, env, "dev-reset")
	out = reset.wait(t)
	if reset.waitErr != nil {
		t.Errorf("make dev-reset after the stop: %v\n%s", reset.waitErr, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("make dev-reset left the data: %v", err)
	}
}
