package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workerProcess runs the worker in child processes, one after another,
// against the stack whose dev.json is in dir.
type workerProcess struct {
	dir    string
	env    []string
	out    io.Writer // the children's console lines, prefixed
	starts int

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // why the current child exited, once exited is closed
}

// freePorts returns n ports of 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start starts a child and returns once it polls.
func (p *workerProcess) start(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	p.starts++
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), p.env...),
		roleEnv+"="+roleWorker, startEnv+"="+strconv.Itoa(p.starts), "PROMPTQ_DEV_DIR="+p.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // signals reach it from us only
	stderr, err := os.OpenFile(workerLogPath(p.dir, p.starts)+".stderr", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the worker: %w", err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == readyLine {
				close(ready)
			}
			fmt.Fprintf(p.out, "  [worker %d] %s\n", p.starts, line)
		}
		p.err = cmd.Wait()
		_ = stderr.Close()
		close(p.exited)
	}()
	select {
	case <-ready:
		return nil
	case <-p.exited:
		return fmt.Errorf("the worker exited while starting: %v (see %s.stderr)", p.err, workerLogPath(p.dir, p.starts))
	case <-ctx.Done():
		p.stop(syscall.SIGKILL)
		return ctx.Err()
	case <-time.After(time.Minute):
		p.stop(syscall.SIGKILL)
		return errors.New("the worker did not start within a minute")
	}
}

// signal sends sig to the current child.
func (p *workerProcess) signal(sig syscall.Signal) error {
	if p.cmd == nil {
		return errors.New("no worker running")
	}
	return syscall.Kill(p.cmd.Process.Pid, sig)
}

// stop sends sig and waits for the child to exit (SIGKILL after 30 s).
func (p *workerProcess) stop(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.signal(syscall.SIGKILL)
		<-p.exited
	}
}

// countCalls counts the "call" lines of the model-calls file and those
// without an "end" yet.
func countCalls(path string) (calls, open int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(l, `"event":"call"`):
			calls++
			open++
		case strings.Contains(l, `"event":"end"`):
			open--
		}
	}
	return calls, open
}
