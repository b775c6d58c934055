package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/promptq/promptq/internal/dev/standin"
)

// kumo (DynamoDB and SQS) runs in a child process: it reads KUMO_DATA_DIR
// when its packages initialise and flushes snapshots there in the
// background, so the data dir must be in the environment before the
// process starts, and the process must outlive a flush to keep the last
// writes. The child is this same binary, told its role by roleEnv.
const (
	roleEnv  = "PROMPTQ_DEV_ROLE"
	roleKumo = "kumo"
	// kumoFlush is the child's snapshot interval. Each snapshot marshals
	// all of kumo's DynamoDB and SQS state to JSON while holding the
	// store's lock, so every write waits for it: with a 2,000-job backlog
	// that took 100-170 ms, and at five snapshots a second the store was
	// locked much of the time (a DynamoDB write's p90 130-150 ms, and the
	// bulk lane got through a backlog's messages at a fifth of the pace).
	// Once a second (kumo's own default) costs a tenth of that; a crash
	// loses at most the last second of a dev stack's changes.
	kumoFlush = time.Second
	// kumoLastFlush is how long the child waits before exiting, its
	// changes done: for the next snapshot (within kumoFlush) to be taken
	// and written, however large the state.
	kumoLastFlush = 2 * kumoFlush
)

// kumoChildEnv names a binary to run as the kumo child instead of this
// one: the dev runner (scripts/dev), which `make test` builds without the
// race detector. A race-instrumented kumo spent most of a dev-stack test's
// CPU (five to ten times the test process's), and on a loaded machine the
// product's calls to it then ran past their deadlines. Unset, the child is
// this binary.
const kumoChildEnv = "PROMPTQ_KUMO_CHILD"

// IsChild reports whether this process is one of the dev runner's helper
// children rather than the runner; [Main] checks it first. A test binary
// that starts the stack in-process must check it in TestMain.
func IsChild() bool { return os.Getenv(roleEnv) != "" }

// kumoProcess is the running child.
type kumoProcess struct {
	url    string
	hint   string // added to a start error
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it tells the child its parent is gone
	exited chan struct{}
	err    error // set before exited closes
}

// startKumo starts the child serving ln with its data in dataDir and its
// output in logFile. The child takes over ln; the parent closes its copy.
func startKumo(ctx context.Context, ln *net.TCPListener, dataDir string, logFile io.Writer) (*kumoProcess, error) {
	exe := os.Getenv(kumoChildEnv)
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("start kumo: %w", err)
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start kumo: %w", err)
	}
	f, err := ln.File()
	if err != nil {
		return nil, fmt.Errorf("start kumo: pass listener: %w", err)
	}
	defer f.Close()
	defer ln.Close()

	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(),
		roleEnv+"="+roleKumo,
		"KUMO_DATA_DIR="+dataDir,
		fmt.Sprintf("KUMO_PERSIST_FLUSH_INTERVAL_MS=%d", kumoFlush.Milliseconds()),
	)
	cmd.ExtraFiles = []*os.File{f} // fd 3 in the child
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: the terminal's Ctrl-C reaches the runner,
	// which stops the child after the servers that use it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start kumo: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kumo %s: %w", exe, err)
	}
	k := &kumoProcess{url: "http://" + ln.Addr().String(), cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	if strings.HasSuffix(exe, ".test") {
		k.hint = "; a test binary that starts a stack needs a TestMain that calls devstack.Main when devstack.IsChild()"
	}
	go func() {
		k.err = cmd.Wait()
		close(k.exited)
	}()
	if err := k.waitReady(ctx); err != nil {
		k.stop()
		return nil, err
	}
	return k, nil
}

// waitReady calls ListTables until kumo answers.
func (k *kumoProcess) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db := standin.DynamoDB(k.url)
	for {
		if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil {
			return nil
		}
		select {
		case <-k.exited:
			return fmt.Errorf("kumo exited before answering on %s: %v (see its log)%s", k.url, k.err, k.hint)
		case <-ctx.Done():
			return fmt.Errorf("kumo did not answer on %s: %w", k.url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop asks the child to flush and exit, and kills it if it lingers.
func (k *kumoProcess) stop() {
	standin.StopGroup(k.cmd.Process.Pid, k.exited, 10*time.Second)
	_ = k.stdin.Close()
}

// kumoChild is the child's main: serve kumo on the inherited listener
// until SIGTERM or SIGINT, or until the parent is gone (stdin closes).
func kumoChild(stderr io.Writer) int {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintf(stderr, "kumo: no listener on fd 3: %v\n", err)
		return 1
	}
	// kumo's public API serves on a random port; put it behind ours.
	k := standin.StartKumo()
	target, err := url.Parse(k.URL)
	if err != nil {
		fmt.Fprintf(stderr, "kumo: %v\n", err)
		return 1
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// A client that gives up on a long poll is no error worth a line.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	orphaned := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(orphaned)
	}()
	code := 0
	select {
	case s := <-sig:
		fmt.Fprintf(stderr, "kumo: %v: stopping\n", s)
	case <-orphaned:
		fmt.Fprintln(stderr, "kumo: the dev runner is gone: stopping")
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "kumo: serve: %v\n", err)
			code = 1
		}
	}
	_ = srv.Close()
	k.Close()
	// kumo writes snapshots every kumoFlush from a background goroutine,
	// and its public API has no call that saves: let the last one land.
	time.Sleep(kumoLastFlush)
	return code
}
