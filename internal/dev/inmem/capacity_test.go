package inmem_test

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/storetest"
)

var _ storetest.Capacity = (*inmem.Capacity)(nil)

func TestCapacity(t *testing.T) {
	t.Parallel()
	storetest.RunCapacity(t, func(_ *testing.T, now func() time.Time) storetest.Capacity {
		return inmem.NewCapacity(now)
	})
}
