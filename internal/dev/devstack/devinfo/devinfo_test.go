package devinfo_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/jobs"
)

func TestWriteThenRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := devinfo.Info{PID: 7, WebURL: "http://127.0.0.1:8080", QueueURLs: map[jobs.Lane]string{jobs.LaneBulk: "q"}, Processes: map[string]int{"kumo": 8}}
	if err := devinfo.Write(dir, in); err != nil {
		t.Fatal(err)
	}
	out, err := devinfo.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read %+v, wrote %+v", out, in)
	}
}

func TestReadWithoutAStackSaysItIsNotRunning(t *testing.T) {
	t.Parallel()
	if _, err := devinfo.Read(t.TempDir()); !errors.Is(err, devinfo.ErrNotRunning) {
		t.Errorf("Read = %v, want ErrNotRunning", err)
	}
}

func TestDirDefaultsToDotLocal(t *testing.T) {
	t.Parallel()
	if d := devinfo.Dir(func(string) string { return "" }); d != ".local" {
		t.Errorf("Dir = %q", d)
	}
	if d := devinfo.Dir(func(string) string { return "/x" }); d != "/x" {
		t.Errorf("Dir = %q", d)
	}
}
