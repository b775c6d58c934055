package devstack

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// codeWatcher reads cognito-local's output, which goes to its log file
// too, and prints each confirmation code it delivers on one clear console
// line: a sign-up's, or a password reset's for an address the Cognito
// proxy said a reset was asked for (expectReset: cognito-local's box does
// not say which). cognito-local draws a box:
//
//	│   Confirmation Code Delivery                          │
//	│   Username:    93c830ee-9504-4f7e-bf00-00691d4f4bb4   │
//	│   Destination: a@example.com                          │
//	│   Code:        518327                                 │
//	╰───────────────────────────────────────────────────────╯
type codeWatcher struct {
	out io.Writer // the console

	mu          sync.Mutex
	partial     []byte // an unfinished line
	inBox       bool
	destination string
	code        string
	resets      map[string]int // addresses (lower case) whose next codes are password resets
}

// expectReset says the next code delivered to email is a password reset's
// (cognitoproxy.go, before it passes ForgotPassword on).
func (w *codeWatcher) expectReset(email string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.resets == nil {
		w.resets = map[string]int{}
	}
	w.resets[strings.ToLower(email)]++
}

// CodeLinePrefix starts the console line of each confirmation code:
// "promptq dev: sign-up code for a@example.com: 518327", and
// ResetCodeLinePrefix that of each password reset's code.
const (
	CodeLinePrefix      = "promptq dev: sign-up code for "
	ResetCodeLinePrefix = "promptq dev: password reset code for "
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func (w *codeWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	// A line that long is not one of the box's.
	if len(w.partial) > 64<<10 {
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

func (w *codeWatcher) line(s string) {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(ansi.ReplaceAllString(s, "")), "│"))
	switch {
	case strings.Contains(s, "Confirmation Code Delivery"):
		w.inBox, w.destination, w.code = true, "", ""
	case !w.inBox:
	case strings.HasPrefix(s, "Destination:"):
		w.destination = strings.TrimSpace(strings.TrimPrefix(s, "Destination:"))
	case strings.HasPrefix(s, "Code:"):
		w.code = strings.TrimSpace(strings.TrimPrefix(s, "Code:"))
	case strings.HasPrefix(s, "╰"):
		w.inBox = false
		if w.code != "" {
			prefix := CodeLinePrefix
			if k := strings.ToLower(w.destination); w.resets[k] > 0 {
				prefix = ResetCodeLinePrefix
				if w.resets[k]--; w.resets[k] == 0 {
					delete(w.resets, k)
				}
			}
			fmt.Fprintf(w.out, "%s%s: %s\n", prefix, w.destination, w.code)
		}
	}
}
