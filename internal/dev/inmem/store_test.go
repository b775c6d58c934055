package inmem_test

import (
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/storetest"
)

var _ storetest.Store = (*inmem.Store)(nil)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		return inmem.NewStore(inmem.Options{Now: now})
	})
}
