package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadMemoryReadsVmRSSAndVmHWM(t *testing.T) {
	t.Parallel()
	proc := fakeProc(t, map[string]string{
		"42/status": "Name:\tbootstrap\nVmPeak:\t 1266000 kB\nVmHWM:\t   15872 kB\nVmRSS:\t   14336 kB\nThreads:\t7\n",
		"43/status": "Name:\tzombie\n",
	})
	m, err := readMemory(proc, 42)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKiB != 14336 || m.HWMKiB != 15872 {
		t.Errorf("got %+v", m)
	}
	if _, err := readMemory(proc, 43); err == nil {
		t.Error("a status without VmRSS gave no error")
	}
	if _, err := readMemory(proc, 44); err == nil {
		t.Error("a missing process gave no error")
	}
}

func TestChildNamedFindsTheBootstrapOfTheEmulator(t *testing.T) {
	t.Parallel()
	proc := fakeProc(t, map[string]string{
		"10/stat":   "10 (aws-lambda-rie) S 1 10 10 0 -1",
		"11/stat":   "11 (bootstrap) S 10 10 10 0 -1",
		"12/stat":   "12 (bootstrap) S 99 12 12 0 -1",
		"13/stat":   "13 (a (weird) name) S 10 13 13 0 -1",
		"self/stat": "garbage",
	})
	if got := childNamed(proc, 10, "bootstrap"); got != 11 {
		t.Errorf("childNamed = %d, want 11", got)
	}
	if got := childNamed(proc, 10, "a (weird) name"); got != 13 {
		t.Errorf("childNamed with parentheses = %d, want 13", got)
	}
	if got := childNamed(proc, 5, "bootstrap"); got != 0 {
		t.Errorf("childNamed of a parent without children = %d", got)
	}
}

func TestReadCPUAddsUserAndSystemTime(t *testing.T) {
	t.Parallel()
	// A real line's shape: utime 250 and stime 37 ticks (fields 14, 15),
	// after a command name with a space and a parenthesis.
	proc := fakeProc(t, map[string]string{
		"42/stat": "42 (boot strap)) S 10 42 42 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 1000 1266000000 3600 18446744073709551615",
		"43/stat": "43 (short) S 10",
	})
	got, err := readCPU(proc, 42)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2870 * time.Millisecond; got != want {
		t.Errorf("readCPU = %s, want %s", got, want)
	}
	if _, err := readCPU(proc, 43); err == nil {
		t.Error("a short stat gave no error")
	}
}
