package devstack

import (
	"bytes"
	"os"
	"testing"
)

func TestCodeWatcherPrintsEachConfirmationCodeOnOneLine(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile("testdata/cognito-local-signup.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 7, len(out)} {
		var console bytes.Buffer
		w := &codeWatcher{out: &console}
		for rest := out; len(rest) > 0; {
			n := min(chunk, len(rest))
			_, _ = w.Write(rest[:n])
			rest = rest[n:]
		}
		if got, want := console.String(), CodeLinePrefix+"a@example.com: 518327\n"; got != want {
			t.Errorf("written %d bytes at a time: console got %q, want %q", chunk, got, want)
		}
	}
}

// A code the Cognito proxy said is a password reset's is printed as one;
// the next to that address, a sign-up's again.
func TestCodeWatcherNamesAPasswordResetsCode(t *testing.T) {
	t.Parallel()
	box, err := os.ReadFile("testdata/cognito-local-signup.log")
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	w := &codeWatcher{out: &console}
	w.expectReset("A@Example.com")
	_, _ = w.Write(box)
	_, _ = w.Write(box)
	if got, want := console.String(), ResetCodeLinePrefix+"a@example.com: 518327\n"+CodeLinePrefix+"a@example.com: 518327\n"; got != want {
		t.Errorf("console got %q, want %q", got, want)
	}
}
