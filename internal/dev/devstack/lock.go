package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
)

// RunningError means another dev runner holds the dev dir.
type RunningError struct {
	PID    int
	WebURL string // empty while it is starting
}

func (e *RunningError) Error() string {
	where := "still starting"
	if e.WebURL != "" {
		where = "web URL " + e.WebURL
	}
	return fmt.Sprintf("promptq dev is already running (pid %d, %s); stop it with Ctrl-C in its terminal, or kill %d", e.PID, where, e.PID)
}

// lockName is the lock file in the dev dir. Its flock is held for the whole
// run, so the kernel drops it when the process dies however it dies: a
// stale file never blocks the next run. It holds the runner's pid and web
// URL, for the message a second runner prints.
const lockName = "dev.lock"

type lockInfo struct {
	PID    int    `json:"pid"`
	WebURL string `json:"web_url,omitempty"`
}

// dirLock is the held lock of a dev dir.
type dirLock struct {
	f    *os.File
	path string
}

// lockDir takes dir's lock, or returns a *RunningError naming the holder.
func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create dev dir: %w", err)
	}
	path := filepath.Join(dir, lockName)
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			b, _ := os.ReadFile(path)
			_ = f.Close()
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			var li lockInfo
			_ = json.Unmarshal(b, &li)
			return nil, &RunningError{PID: li.PID, WebURL: li.WebURL}
		}
		// The holder before us may have removed the file between our open
		// and our flock: then we locked a file no one else will see.
		if sameFile(f, path) {
			l := &dirLock{f: f, path: path}
			return l, l.write(lockInfo{PID: os.Getpid()})
		}
		_ = f.Close()
	}
	return nil, fmt.Errorf("lock %s: it keeps being replaced", path)
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// write records li in the lock file.
func (l *dirLock) write(li lockInfo) error {
	b, _ := json.Marshal(li)
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

// release removes the lock file and lets the lock go.
func (l *dirLock) release() {
	_ = os.Remove(l.path)
	_ = l.f.Close()
}

// checkNotRunning returns a *RunningError if a dev runner holds dir.
func checkNotRunning(dir string) (release func(), err error) {
	l, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// killLeftovers stops the children of a previous run that did not exit
// cleanly (killed with SIGKILL, say): its dev.json is still there, and a
// cognito-local it started may still hold its port. kumo's child watches
// its parent and exits by itself; cognito-local (node) does not. A pid is
// signalled only if it still runs cognito-local, so a reused pid is never
// hit.
func killLeftovers(dir string) {
	info, err := devinfo.Read(dir)
	if err != nil {
		return
	}
	for role, pid := range info.Processes {
		if pid <= 0 || pid == os.Getpid() || !runs(pid, role) {
			continue
		}
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		for range 50 {
			if syscall.Kill(pid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// runs reports whether process pid's command line is that of role's
// process, as ps shows it.
func runs(pid int, role string) bool {
	out, err := exec.Command("ps", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return false
	}
	switch role {
	case "cognito":
		return strings.Contains(string(out), "cognito-local")
	case "kumo":
		return strings.Contains(string(out), "promptq-dev") || strings.Contains(string(out), "devstack.test")
	}
	return false
}

// childPID is the pid of this process's child whose command line contains
// name, or 0. (standin.CognitoServer keeps its process to itself.)
func childPID(name string) int {
	out, err := exec.Command("pgrep", "-P", strconv.Itoa(os.Getpid()), "-f", name).Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
	return pid
}
