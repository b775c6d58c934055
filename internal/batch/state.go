package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"github.com/promptq/promptq/internal/jobs"
)

// Record is what is known about one input line: the job it became, or why
// it never became one. The state file holds Records; the last one for a
// line wins. The prompt is never written, only a hash of the line.
type Record struct {
	Line          int    `json:"line"`
	Sum           string `json:"sum"`
	Key           string `json:"key"`
	JobID         string `json:"job_id,omitempty"`
	Status        string `json:"status"`
	GeneratedText string `json:"generated_text,omitempty"`
	// GeneratedJSON is a succeeded job's generated_json (a request with
	// a schema).
	GeneratedJSON json.RawMessage `json:"generated_json,omitempty"`
	Tokens        *jobs.Tokens    `json:"tokens,omitempty"`
	Error         *ErrorInfo      `json:"error,omitempty"`
	// StopReason and Model are the finished job's (its stop_reason and
	// model), which OpenAI's and Anthropic's results shapes carry.
	StopReason string `json:"stop_reason,omitempty"`
	Model      string `json:"model,omitempty"`
	// Done: the job was read in a terminal status, so its text, tokens
	// and error are final and a re-run need not fetch it again.
	Done bool `json:"done,omitempty"`
}

// statusRejected marks a line that never became a job: refused locally or
// by the API.
const statusRejected = "rejected"

// stateHeader is the state file's first line, so a file of another kind
// (or a later format) is refused instead of misread.
type stateHeader struct {
	Version int `json:"promptq_batch_state"`
}

const stateVersion = 1

// stateFile is the append-only log of Records next to the output. Every
// append is fsync'd before the run goes on, so what the API accepted is on
// disk before the next batch is sent; a run killed at any moment leaves at
// most a torn last line, which loading skips.
type stateFile struct {
	path string
	f    *os.File
}

// openState opens (or creates) the state file at path, holding an
// exclusive lock on it so two runs cannot share one state, and returns the
// records that still match the input: same line, key and sum. Records of
// lines that changed since are ignored (and stay in the file, harmlessly).
func openState(path string, lines []Line) (*stateFile, map[int]Record, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("state file %s is in use by another batch run", path)
	}
	s := &stateFile{path: path, f: f}
	known, err := s.load()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	byLine := map[int]Line{}
	for _, l := range lines {
		if l.Err == nil {
			byLine[l.N] = l
		}
	}
	kept := map[int]Record{}
	for n, r := range known {
		if l, ok := byLine[n]; ok && l.Key == r.Key && l.Sum == r.Sum {
			kept[n] = r
		}
	}
	return s, kept, nil
}

// load reads the records of the file, writing the header if it is new.
func (s *stateFile) load() (map[int]Record, error) {
	data, err := io.ReadAll(io.NewSectionReader(s.f, 0, math.MaxInt64))
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", s.path, err)
	}
	if len(data) == 0 {
		hb, _ := json.Marshal(stateHeader{Version: stateVersion})
		if _, err := s.f.Write(append(hb, '\n')); err != nil {
			return nil, fmt.Errorf("write state %s: %w", s.path, err)
		}
		if err := s.f.Sync(); err != nil {
			return nil, fmt.Errorf("sync state %s: %w", s.path, err)
		}
		return map[int]Record{}, nil
	}
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	var h stateHeader
	if json.Unmarshal(first, &h) != nil || h.Version == 0 {
		return nil, fmt.Errorf("%s is not a batch state file; remove it or choose another --output", s.path)
	}
	if h.Version != stateVersion {
		return nil, fmt.Errorf("%s has state format %d; this tool reads %d", s.path, h.Version, stateVersion)
	}
	out := map[int]Record{}
	for b := range bytes.Lines(rest) {
		var r Record
		// A torn last line (the run was killed mid-write) is skipped:
		// its batch is sent again, and the idempotency keys make that
		// harmless.
		if json.Unmarshal(b, &r) == nil && r.Line > 0 && r.Status != "" {
			out[r.Line] = r
		}
	}
	if data[len(data)-1] != '\n' {
		// End the torn line, so the next record starts a line of its own.
		if _, err := s.f.Write([]byte("\n")); err != nil {
			return nil, fmt.Errorf("write state %s: %w", s.path, err)
		}
	}
	return out, nil
}

// append writes records and waits for them to reach the disk.
func (s *stateFile) append(recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("append to state %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync state %s: %w", s.path, err)
	}
	return nil
}

// close releases the lock.
func (s *stateFile) close() error { return s.f.Close() }

// writeFileAtomic writes data to a temporary file in path's directory,
// syncs it and renames it over path, so readers see the old file or the
// new one, never half of one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename itself durable
		_ = d.Close()
	}
	return nil
}
