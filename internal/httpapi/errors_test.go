package httpapi

import (
	"net/http"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

// Every kind the domain declares reaches a client with a status and a code
// of its own; only an internal error is a 500.
func TestEveryKindHasItsStatusAndCode(t *testing.T) {
	t.Parallel()
	codes := map[string]jobs.Kind{}
	for _, k := range jobs.Kinds {
		w, ok := wire[k]
		if !ok {
			t.Errorf("kind %q has no status or code", k)
			continue
		}
		if other, dup := codes[w.code]; dup {
			t.Errorf("kinds %q and %q share the code %q", k, other, w.code)
		}
		codes[w.code] = k
		if (w.status == http.StatusInternalServerError) != (k == jobs.KindInternal) {
			t.Errorf("kind %q answers %d", k, w.status)
		}
	}
}
