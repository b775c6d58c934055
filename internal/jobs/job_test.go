package jobs

import (
	"sort"
	"testing"
)

func TestStatusTerminal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   Status
		terminal bool
	}{
		{StatusQueued, false},
		{StatusRunning, false},
		{StatusSucceeded, true},
		{StatusFailed, true},
		{StatusCancelled, true},
	}
	for _, tt := range tests {
		if got := tt.status.Terminal(); got != tt.terminal {
			t.Errorf("%s.Terminal() = %v, want %v", tt.status, got, tt.terminal)
		}
		if !tt.status.Valid() {
			t.Errorf("%s.Valid() = false", tt.status)
		}
	}
	if Status("done").Valid() {
		t.Error(`Status("done").Valid() = true`)
	}
}

func TestNewIDSortsByCreation(t *testing.T) {
	t.Parallel()
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = NewID()
		if !ValidID(ids[i]) {
			t.Fatalf("ValidID(%q) = false", ids[i])
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("ids made one after another are not in ascending order")
	}
	for _, bad := range []string{"", "x", "../../etc", "0190000000000000000000000000000000000"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
