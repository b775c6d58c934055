package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memory is a process's resident memory as /proc/<pid>/status tells it.
type memory struct {
	RSSKiB int // VmRSS: resident now
	HWMKiB int // VmHWM: the most it has been resident
}

// readMemory reads /proc/<pid>/status.
func readMemory(procDir string, pid int) (memory, error) {
	f, err := os.Open(filepath.Join(procDir, strconv.Itoa(pid), "status"))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int
		switch name {
		case "VmRSS":
			dst = &m.RSSKiB
		case "VmHWM":
			dst = &m.HWMKiB
		default:
			continue
		}
		f := strings.Fields(value) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return memory{}, fmt.Errorf("%s: unexpected %q", name, value)
		}
		if *dst, err = strconv.Atoi(f[0]); err != nil {
			return memory{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, err
	}
	if m.RSSKiB == 0 {
		return memory{}, fmt.Errorf("no VmRSS for pid %d", pid)
	}
	return m, nil
}

// childNamed returns the pid of a child of parent whose command name
// (/proc/<pid>/comm) is name, or 0.
func childNamed(procDir string, parent int, name string) int {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses,
		// so read from the last ')'.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 || s[open+1:end] != name {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == parent {
			return pid
		}
	}
	return 0
}

// userHZ is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on
// every Linux architecture (the kernel's ABI, whatever its own HZ).
const userHZ = 100

// readCPU is the CPU time a process has used so far, all its threads, in
// user and kernel mode: utime plus stime of /proc/<pid>/stat.
func readCPU(procDir string, pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ... utime stime: fields 14 and 15, counted
	// from after the command name, which may hold spaces.
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("pid %d: stat %q", pid, s)
	}
	f := strings.Fields(s[end+1:]) // f[0] is the state, field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: stat has %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d: stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
