package devstack

import (
	"os"
	"testing"
)

// TestMain lets the test binary be the stack's kumo child too: a stack
// started in-process re-executes its own binary for that (see kumo.go).
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(Main(nil, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
