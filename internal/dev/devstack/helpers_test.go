package devstack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
)

const cognitoLocal = "node/node_modules/.bin/cognito-local" // under .tools

// console collects what the dev runner prints, line by line, and lets a
// test wait for a line.
type console struct {
	mu      sync.Mutex
	all     bytes.Buffer
	lines   []string
	partial string
	changed chan struct{}
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all.Write(p)
	c.partial += string(p)
	for {
		i := strings.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, c.partial[:i])
		c.partial = c.partial[i+1:]
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.String()
}

// waitFor returns the submatches of the first line matching re, waiting
// for it until exited is closed (the process is gone) or the test ends.
func (c *console) waitFor(t *testing.T, re *regexp.Regexp, exited <-chan struct{}) []string {
	t.Helper()
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				c.mu.Unlock()
				return m
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-exited:
			t.Fatalf("the dev runner exited before printing a line matching %s; it printed:\n%s", re, c.String())
		case <-t.Context().Done():
			t.Fatalf("no line matching %s; the dev runner printed:\n%s", re, c.String())
		}
	}
}

var readyLine = regexp.MustCompile(`\bready\b`)

// freePorts returns n ports of 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

// repoRoot is the dir holding the Makefile.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "Makefile")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no Makefile above %s", wd)
		}
	}
}

// stackEnv is the environment of a dev stack isolated in dir, on ports the
// stack picks itself (0: a port found free and closed again could be taken
// by a parallel test before the stack binds it, as in CI at 6312592), with
// a fast local model.
func stackEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	return map[string]string{
		"PROMPTQ_DEV_DIR":                 dir,
		"PROMPTQ_DEV_WEB_PORT":            "0",
		"PROMPTQ_DEV_API_PORT":            "0",
		"PROMPTQ_DEV_AWS_PORT":            "0",
		"PROMPTQ_DEV_COGNITO_PORT":        "0",
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "500",
		"PROMPTQ_LOCAL_LATENCY":           "0s",
	}
}

// startStack runs a dev stack in this process with env, until the test
// ends. Its log lines go to the test's log and to logs.
func startStack(t *testing.T, env map[string]string, logs ...io.Writer) (*devstack.Stack, *console) {
	t.Helper()
	standin.RequireTool(t, cognitoLocal)
	cfg, err := devstack.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	out := newConsole()
	s := devstack.New(cfg, out, slog.New(slog.NewTextHandler(io.MultiWriter(append([]io.Writer{testWriter{t}}, logs...)...), nil)))
	if err := s.Run(t.Context()); err != nil {
		t.Fatalf("start the dev stack: %v\n%s", err, out.String())
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// makeDev starts `make dev` in its own process group, as a terminal runs
// it, with env added; its output goes to the returned console. exited is
// closed when make has exited, and waitErr is then its result.
type makeDev struct {
	cmd     *exec.Cmd
	out     *console
	exited  chan struct{}
	waitErr error
}

func startMake(t *testing.T, env map[string]string, target string) *makeDev {
	t.Helper()
	standin.RequireTool(t, cognitoLocal)
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("PROMPTQ_REQUIRE_STANDINS") == "1" {
			t.Fatal("make is not installed")
		}
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = repoRoot(t)
	for _, kv := range os.Environ() {
		// Not the settings of a make that runs this test.
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	m := &makeDev{cmd: cmd, out: newConsole(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	cmd.SysProcAttr = newProcessGroup()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.waitErr = cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		m.interrupt()
		<-m.exited
		if t.Failed() {
			t.Logf("make %s printed:\n%s", target, m.out.String())
		}
	})
	return m
}

// interrupt signals make's process group as Ctrl-C in a terminal does.
func (m *makeDev) interrupt() {
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGINT)
}

// wait waits for make to exit and returns what it printed.
func (m *makeDev) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-m.exited:
	case <-t.Context().Done():
		t.Fatalf("make did not exit; it printed:\n%s", m.out.String())
	}
	return m.out.String()
}

// user is a signed-up, confirmed, logged-in user.
type user struct {
	email, password, access string
}

func randomEmail() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "dev-" + hex.EncodeToString(b) + "@example.com"
}

// signUp registers a user with the Cognito API at info's endpoint, confirms
// them with the code the dev runner prints, and logs them in.
func signUp(t *testing.T, info devinfo.Info, out *console, exited <-chan struct{}) user {
	t.Helper()
	c := standin.CognitoClient(info.CognitoEndpoint)
	u := user{email: randomEmail(), password: "Correct-horse-battery-1"}
	if _, err := c.SignUp(t.Context(), &cip.SignUpInput{
		ClientId:       aws.String(info.ClientID),
		Username:       aws.String(u.email),
		Password:       aws.String(u.password),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(u.email)}},
	}); err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	code := out.waitFor(t, regexp.MustCompile(regexp.QuoteMeta(devstack.CodeLinePrefix+u.email+": ")+`(\S+)$`), exited)[1]
	if _, err := c.ConfirmSignUp(t.Context(), &cip.ConfirmSignUpInput{
		ClientId:         aws.String(info.ClientID),
		Username:         aws.String(u.email),
		ConfirmationCode: aws.String(code),
	}); err != nil {
		t.Fatalf("ConfirmSignUp with the printed code %q: %v", code, err)
	}
	u.access = logIn(t, info, u.email, u.password)
	return u
}

func logIn(t *testing.T, info devinfo.Info, email, password string) string {
	t.Helper()
	out, err := standin.CognitoClient(info.CognitoEndpoint).InitiateAuth(t.Context(), &cip.InitiateAuthInput{
		ClientId:       aws.String(info.ClientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil {
		t.Fatalf("InitiateAuth %s: %v", email, err)
	}
	if out.AuthenticationResult == nil {
		t.Fatalf("InitiateAuth %s: challenge %s", email, out.ChallengeName)
	}
	return aws.ToString(out.AuthenticationResult.AccessToken)
}

// call sends a request to the API and decodes a JSON answer into v.
func call(t *testing.T, method, url, token string, body any, v any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if v != nil && len(b) > 0 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

// job is the part of the API's Job the tests read.
type job struct {
	JobID         string `json:"job_id"`
	Status        string `json:"status"`
	Model         string `json:"model"`
	GeneratedText string `json:"generated_text"`
	Tokens        struct {
		Input  int `json:"input"`
		Output int `json:"output"`
	} `json:"tokens"`
	StopReason string `json:"stop_reason"`
	Attempts   int    `json:"attempts"`
	Error      *struct {
		Code, Message string
	} `json:"error"`
}

// submit posts a prompt and returns the job id.
func submit(t *testing.T, info devinfo.Info, u user, prompt string) string {
	t.Helper()
	var j job
	if code := call(t, http.MethodPost, info.APIURL+"/generate", u.access, map[string]any{"prompt": prompt}, &j); code != http.StatusAccepted || j.JobID == "" {
		t.Fatalf("POST /generate: %d %+v", code, j)
	}
	return j.JobID
}

// finished polls the job until it is terminal. The bound only turns a hang
// into a readable failure.
func finished(t *testing.T, info devinfo.Info, u user, id string) job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for {
		var j job
		if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+id, u.access, nil, &j); code != http.StatusOK {
			t.Fatalf("GET /jobs/%s: %d", id, code)
		}
		switch j.Status {
		case "succeeded", "failed", "cancelled":
			return j
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s still %s", id, j.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkLocalAnswer checks a job the local model answered.
func checkLocalAnswer(t *testing.T, j job, prompt string) {
	t.Helper()
	if j.Status != "succeeded" {
		t.Fatalf("job %s: %s %+v", j.JobID, j.Status, j.Error)
	}
	if !strings.HasPrefix(j.GeneratedText, "[promptq local model") || j.Model != "promptq-local" {
		t.Errorf("model %q wrote %q: want the local model's answer", j.Model, j.GeneratedText)
	}
	if in, want := j.Tokens.Input, len(strings.Fields(prompt)); in != want {
		t.Errorf("input tokens %d, want %d (the prompt's words)", in, want)
	}
	if out, want := j.Tokens.Output, len(strings.Fields(j.GeneratedText)); out != want || out == 0 {
		t.Errorf("output tokens %d, want %d (the answer's words)", out, want)
	}
}

func newProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// waitGone waits until no process has id pid (a negative pid: no process is
// in that group), and fails the test if one lingers.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	for range 150 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s (%d) is still running after the dev runner stopped", what, pid)
}
