package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// rescueLine is a line the rescuer logs for each job it moves.
type rescueLine struct {
	Msg      string `json:"msg"`
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Idle     string `json:"idle"`
}

// readRescues returns the jobs the rescuer moved, from the dev stack's
// JSON logs, in order.
func readRescues(paths ...string) ([]rescueLine, error) {
	var out []rescueLine
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("read the stack's log: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var l rescueLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && strings.HasPrefix(l.Msg, "rescue: ") && l.JobID != "" {
				l.Msg = strings.TrimPrefix(l.Msg, "rescue: ")
				out = append(out, l)
			}
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
	}
	return out, nil
}
