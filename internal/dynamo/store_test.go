package dynamo_test

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/dynamo"
)

var _ storetest.Store = (*dynamo.Store)(nil)

// TestStore runs the shared store suite over the wire against kumo, one
// table per test.
func TestStore(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		t.Helper()
		table := standin.UniqueName(t)
		if err := dynamo.CreateTable(t.Context(), k.DynamoDB, table); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		return dynamo.New(k.DynamoDB, table, dynamo.Options{Now: now})
	})
}
