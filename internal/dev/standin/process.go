package standin

import (
	"syscall"
	"time"
)

// StopGroup stops the process group led by pid (a child started with
// Setpgid): SIGTERM, then SIGKILL if exited has not closed within grace.
// It returns once exited closes.
func StopGroup(pid int, exited <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}
