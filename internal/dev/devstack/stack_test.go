package devstack_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack"
)

func TestRestartKeepsUsersAndJobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, out := startStack(t, stackEnv(t, dir))
	info := s.Info()
	alice := signUp(t, info, out, nil)
	const prompt = "Say something twice"
	id := submit(t, info, alice, prompt)
	before := finished(t, info, alice, id)
	checkLocalAnswer(t, before, prompt)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Other ports, same data.
	s, _ = startStack(t, stackEnv(t, dir))
	info = s.Info()
	alice.access = logIn(t, info, alice.email, alice.password)
	var after job
	if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+id, alice.access, nil, &after); code != http.StatusOK {
		t.Fatalf("GET /jobs/%s after the restart: %d", id, code)
	}
	if after.Status != "succeeded" || after.GeneratedText != before.GeneratedText {
		t.Errorf("after the restart the job is %s %q, want succeeded %q", after.Status, after.GeneratedText, before.GeneratedText)
	}
}

// TestAJobTheStopInterruptsRunsAfterTheRestart stops the stack while a
// job runs: its message must survive the restart (kumo leaves messages in
// flight out of its snapshots) and the job end after it, not wait for the
// rescuer.
func TestAJobTheStopInterruptsRunsAfterTheRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := stackEnv(t, dir)
	env["PROMPTQ_LOCAL_TOKENS_PER_SECOND"] = "10" // 60 tokens: 6 s
	s, out := startStack(t, env)
	info := s.Info()
	alice := signUp(t, info, out, nil)
	var j job
	if code := call(t, http.MethodPost, info.APIURL+"/generate", alice.access, map[string]any{"prompt": "Take your time", "max_tokens": 60}, &j); code != http.StatusAccepted {
		t.Fatalf("POST /generate: %d %+v", code, j)
	}
	id := j.JobID
	for j.Status != "running" {
		if j.Status != "queued" {
			t.Fatalf("the job is %s before the stop, want it running", j.Status)
		}
		time.Sleep(100 * time.Millisecond)
		if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+id, alice.access, nil, &j); code != http.StatusOK {
			t.Fatalf("GET /jobs/%s: %d", id, code)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, _ = startStack(t, env)
	info = s.Info()
	alice.access = logIn(t, info, alice.email, alice.password)
	after := finished(t, info, alice, id)
	if after.Status != "succeeded" || after.Attempts != 2 {
		t.Errorf("after the restart the job is %s after %d attempts, want succeeded after 2", after.Status, after.Attempts)
	}
}

// TestATransientModelErrorIsRetriedThroughTheQueue runs the retry path
// end to end: the worker reports the message failed, the poller leaves it
// on the queue, and its next delivery succeeds.
func TestATransientModelErrorIsRetriedThroughTheQueue(t *testing.T) {
	t.Parallel()
	env := stackEnv(t, t.TempDir())
	env["PROMPTQ_BACKOFF_BASE"] = "1s"
	env["PROMPTQ_BACKOFF_MAX"] = "1s"
	env["PROMPTQ_DEV_POLL_WAIT"] = "1s"
	s, out := startStack(t, env)
	info := s.Info()
	u := signUp(t, info, out, nil)
	const prompt = "promptq-fault:throttle-once then answer"
	j := finished(t, info, u, submit(t, info, u, prompt))
	checkLocalAnswer(t, j, prompt)
	if j.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (one throttled, one answered)", j.Attempts)
	}
}

func TestTheStackServesOnThePortsAskedFor(t *testing.T) {
	t.Parallel()
	env := stackEnv(t, t.TempDir())
	p := freePorts(t, 2)
	env["PROMPTQ_DEV_WEB_PORT"], env["PROMPTQ_DEV_API_PORT"] = strconv.Itoa(p[0]), strconv.Itoa(p[1])
	s, _ := startStack(t, env)
	if info := s.Info(); info.WebURL != "http://127.0.0.1:"+env["PROMPTQ_DEV_WEB_PORT"] || info.APIURL != "http://127.0.0.1:"+env["PROMPTQ_DEV_API_PORT"] {
		t.Errorf("web %s, API %s: not on the ports asked for", info.WebURL, info.APIURL)
	}
}

func TestABusyPortIsNamedWithItsVariable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	env := stackEnv(t, dir)
	env["PROMPTQ_DEV_API_PORT"] = strconv.Itoa(port)
	cfg, err := devstack.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	err = devstack.New(cfg, newConsole(), nil).Run(t.Context())
	var pe *devstack.PortError
	if !errors.As(err, &pe) || pe.Env != "PROMPTQ_DEV_API_PORT" ||
		!strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "PROMPTQ_DEV_API_PORT") {
		t.Errorf("Run = %v, want a port error naming %d and PROMPTQ_DEV_API_PORT", err, port)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock is left behind: %v", err)
	}
}
