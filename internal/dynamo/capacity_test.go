package dynamo_test

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/dynamo"
)

var _ storetest.Capacity = (*dynamo.Capacity)(nil)

// TestCapacity runs the seats' suite over the wire against kumo, one table
// per test.
func TestCapacity(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	storetest.RunCapacity(t, func(t *testing.T, now func() time.Time) storetest.Capacity {
		t.Helper()
		table := standin.UniqueName(t)
		if err := dynamo.CreateTable(t.Context(), k.DynamoDB, table); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		return dynamo.NewCapacity(k.DynamoDB, table, now)
	})
}
