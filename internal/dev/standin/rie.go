package standin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// riePath is where `make tools` installs aws-lambda-rie in the tools dir.
var riePath = filepath.Join("bin", "aws-lambda-rie")

// BuildLambda builds the Lambda main package pkg (such as
// "github.com/promptq/promptq/lambdas/api") the way `make build` does, for
// this machine's OS and architecture, and returns the bootstrap's path.
func BuildLambda(t TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// RIE is a Lambda bootstrap running under aws-lambda-rie.
type RIE struct {
	InvokeURL string // POST an event here
	out       *Buffer
}

// Logs returns what the function and the emulator printed so far.
func (r *RIE) Logs() string {
	return r.out.String()
}

// StartRIE runs bootstrap under aws-lambda-rie on 127.0.0.1 with env added
// to a minimal environment (no AWS settings of the caller leak in), and
// stops it when the test ends. The function's logs are shown if the test
// fails.
func StartRIE(t TB, bootstrap string, env ...string) *RIE {
	t.Helper()
	rie := RequireTool(t, riePath)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	out := &Buffer{}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(port),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true"}, env...)
	cmd.Stdout = out
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	r := &RIE{InvokeURL: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port), out: out}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("aws-lambda-rie output:\n%s", r.Logs())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen on %d: %v\n%s", port, err, r.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Invoke posts event to the function and returns its raw response.
func (r *RIE) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.InvokeURL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read invoke response: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("invoke: status %d: %s", res.StatusCode, b)
	}
	return b, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
