package standin

import "context"

// TB is the part of testing.TB the test helpers here use (*testing.T and
// *testing.B have it). It is declared here, not imported, so that this
// package does not import testing: the dev runner links it, and a binary
// that links testing carries the test framework and its flags.
type TB interface {
	Helper()
	Context() context.Context
	Cleanup(func())
	Failed() bool
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Name() string
	Skip(args ...any)
	Skipf(format string, args ...any)
	TempDir() string
}
