package worker_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

// sharedWire is a wire whose worker holds the owner to a fair share of the
// interactive lane, where another user has work waiting: the owner's jobs
// run in slots of the real shares on kumo.
func sharedWire(t *testing.T, m worker.Model) (*wire, *dynamo.Shares, *worker.Worker) {
	t.Helper()
	w := setupWire(t, wireOptions{maxReceiveCount: 5})
	shares := dynamo.NewShares(w.backend.Kumo.DynamoDB, w.backend.Table, nil)
	if err := shares.Waiting(t.Context(), jobs.LaneInteractive, "bob", 1); err != nil {
		t.Fatal(err)
	}
	cfg := wireConfig(5)
	cfg.QueueURLs = w.backend.QueueURLs
	wk, err := worker.New(w.store, w.queue, m, cfg, worker.Options{Shares: shares, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return w, shares, wk
}

func (w *wire) running(s *dynamo.Shares) int {
	w.t.Helper()
	n, err := s.Running(w.t.Context(), jobs.LaneInteractive, owner)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// A job whose worker died holds its slot until the slot's lease lapses.
// The message that comes back and claims the job takes the slot over, and
// gives it back when the job ends.
func TestWireAMessageThatClaimsADeadWorkersJobTakesItsSlotOver(t *testing.T) {
	t.Parallel()
	w, shares, wk := sharedWire(t, fast())
	j := w.submit("Say something", 40)
	// The dead worker's claim, whose lease has lapsed, and its slot, which
	// has not yet.
	if _, err := w.store.Claim(t.Context(), owner, j.ID, -time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := shares.Renew(t.Context(), jobs.LaneInteractive, owner, j.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.pollUntil(wk.Handle, func() bool { return w.job(j.ID).Status.Terminal() })
	if got := w.job(j.ID); got.Status != jobs.StatusSucceeded || got.Attempts != 2 {
		t.Fatalf("job %s after %d claims, want succeeded on the second", got.Status, got.Attempts)
	}
	if n := w.running(shares); n != 0 {
		t.Errorf("the owner holds %d slots after the job ended, want its slot given back", n)
	}
}
