package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/jobs"
)

// A job's settled charge is the tokens of all its calls: an attempt that
// failed after the model billed it, and the one that succeeded. The owner's
// usage says the same, and the job's end released the rest of its
// reservation.
func TestAJobIsChargedTheTokensOfAllItsCalls(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	store := inmem.NewStore(inmem.Options{Now: clock.Now})
	req := jobs.Request{Prompt: "Write a haiku about queues.", Model: "m", MaxTokens: 500}
	r, err := store.Reserve(t.Context(), owner, jobs.Cost{Jobs: 1, Tokens: req.WorstCaseTokens()}, jobs.Budgets{TokensPerDay: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := store.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: req.Prompt, Model: req.Model,
		MaxTokens: req.MaxTokens, Budget: jobs.Budget{Day: r.Day, Reserved: req.WorstCaseTokens()}}, "fp")
	if err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		tokens jobs.Tokens
		err    error
	}{
		{jobs.Tokens{Input: 11, Output: 120}, &jobs.Error{Kind: jobs.KindUnavailable, Message: "The model's connection dropped."}},
		{jobs.Tokens{Input: 11, Output: 230}, nil},
	}
	n := 0
	model := &fakeModel{GenerateFunc: func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		c := calls[n]
		n++
		return jobs.Progress{GeneratedText: "text", Tokens: c.tokens, StopReason: "end_turn"}, c.err
	}}
	w, err := New(store, &fakeQueue{}, model, testConfig(), Options{Meter: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for receive := 1; receive <= 2; receive++ {
		if _, err := w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, receive)}}); err != nil {
			t.Fatal(err)
		}
	}
	if n != 2 {
		t.Fatalf("the model was called %d times, want 2", n)
	}
	got, err := store.Get(t.Context(), owner, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := 11 + 120 + 11 + 230
	if got.Status != jobs.StatusSucceeded || got.Budget.Charged != want || !got.Budget.Settled || got.Budget.ChargedAttempt != 2 {
		t.Errorf("job %s with budget %+v; want succeeded, %d charged over 2 attempts, settled", got.Status, got.Budget, want)
	}
	u, err := store.Usage(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	if u.Charged != want || u.Committed != want || u.Active != 0 || u.ByModel["m"] != (jobs.Tokens{Input: 22, Output: 350}) {
		t.Errorf("usage %+v, want %d charged and committed (the rest of the reservation released), nothing active", u, want)
	}
}
