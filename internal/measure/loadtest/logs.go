package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Attempt is what the worker's log says of one attempt at a job: the claim
// that started it and the last line about it.
type Attempt struct {
	Number  int
	Log     string // the log file, one per process
	Claimed time.Time
	// Outcome is the message of the last line about the attempt after
	// its claim ("job succeeded", "transient failure; job released, ..."),
	// "" if none came (the process ended first); Cause its cause or error.
	Outcome string
	Cause   string
}

// ReadAttempts reads worker logs (JSON lines, as [StartStack] writes them)
// and returns the attempts each job id went through, in order.
func ReadAttempts(paths ...string) (map[string][]Attempt, error) {
	out := map[string][]Attempt{}
	for _, path := range paths {
		if err := readAttempts(path, out); err != nil {
			return nil, err
		}
	}
	for _, as := range out {
		slices.SortStableFunc(as, func(a, b Attempt) int { return a.Number - b.Number })
	}
	return out, nil
}

func readAttempts(path string, out map[string][]Attempt) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read worker log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Component string    `json:"component"`
			JobID     string    `json:"job_id"`
			Attempt   int       `json:"attempt"`
			Cause     any       `json:"cause"`
			Error     any       `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Component != "worker" || l.JobID == "" || l.Attempt == 0 {
			continue
		}
		as := out[l.JobID]
		i := slices.IndexFunc(as, func(a Attempt) bool { return a.Number == l.Attempt && a.Log == path })
		if l.Msg == "job claimed" {
			if i < 0 {
				out[l.JobID] = append(as, Attempt{Number: l.Attempt, Log: path, Claimed: l.Time})
			}
			continue
		}
		if i < 0 || intermediate(l.Msg) {
			continue // about an attempt claimed in another log, or not its end
		}
		as[i].Outcome = l.Msg
		switch {
		case l.Cause != nil:
			as[i].Cause = fmt.Sprint(l.Cause)
		case l.Error != nil:
			as[i].Cause = fmt.Sprint(l.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read worker log %s: %w", path, err)
	}
	return nil
}

// intermediate reports whether a worker's message about an attempt is
// followed by another one that says how it ended.
func intermediate(msg string) bool {
	return strings.HasPrefix(msg, "could not save progress") ||
		msg == "could not release the job" ||
		msg == "could not change the message's visibility"
}

// Label is a short name for how an attempt ended.
func (a Attempt) Label() string {
	switch {
	case a.Outcome == "":
		return "no outcome logged"
	case a.Outcome == "job succeeded":
		return "succeeded"
	case strings.HasPrefix(a.Outcome, "transient failure"):
		return "released (" + causeOf(a.Cause) + ")"
	}
	return firstWords(a.Outcome, 8)
}

// causeOf names an error's kind in a few words.
func causeOf(err string) string {
	switch {
	case strings.Contains(err, "throttl"):
		return "throttled"
	case strings.Contains(err, "deadline") || strings.Contains(err, "timed out") || strings.Contains(err, "time limit"):
		return "timed out"
	case strings.Contains(err, "connection refused") || strings.Contains(err, "EOF") ||
		strings.Contains(err, "unreachable") || strings.Contains(err, "unavailable"):
		return "store unreachable"
	}
	// "finish job <id> attempt 1: ...": what comes after the last colon
	if i := strings.LastIndex(err, ": "); i >= 0 {
		err = err[i+2:]
	}
	return firstWords(err, 6)
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		return strings.Join(f[:n], " ") + " ..."
	}
	return strings.Join(f, " ")
}

// Story is a job's attempts as one line: "no outcome logged → succeeded".
func Story(as []Attempt) string {
	if len(as) == 0 {
		return "never claimed"
	}
	labels := make([]string, len(as))
	for i, a := range as {
		labels[i] = a.Label()
	}
	return strings.Join(labels, " → ")
}
