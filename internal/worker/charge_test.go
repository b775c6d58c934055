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

// countingStore is the in-memory store, counting the worker's separate
// charges, with a Finish that can fail.
type countingStore struct {
	*inmem.Store
	charges    int
	finishErr  error // returned by Finish, once, without writing
	finishedAs []jobs.Progress
}

func (s *countingStore) Charge(ctx context.Context, j jobs.Job, t jobs.Tokens) error {
	s.charges++
	return s.Store.Charge(ctx, j, t)
}

func (s *countingStore) Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error {
	s.finishedAs = append(s.finishedAs, p)
	if err := s.finishErr; err != nil {
		s.finishErr = nil
		return err
	}
	return s.Store.Finish(ctx, owner, id, attempt, p)
}

// A job that succeeds is charged its attempt in the write of its result,
// which settles it (one transaction in internal/dynamo, not a charge and a
// settlement). A result that cannot be written (the job was cancelled
// meanwhile, or the store failed) still charges the attempt, apart, once.
func TestTheEndingAttemptIsChargedWithItsResult(t *testing.T) {
	t.Parallel()
	used := jobs.Tokens{Input: 11, Output: 230}
	for _, tt := range []struct {
		name       string
		cancel     bool  // the job is cancelled while the model writes
		finishErr  error // the store fails the first Finish
		status     jobs.Status
		charges    int // Charge calls apart from Finish
		active     int
		finishings int
	}{
		{"succeeds", false, nil, jobs.StatusSucceeded, 0, 0, 1},
		{"cancelled while the model wrote", true, nil, jobs.StatusCancelled, 1, 0, 1},
		{"the store fails the result", false, &jobs.Error{Kind: jobs.KindUnavailable, Message: "DynamoDB is unavailable."}, jobs.StatusQueued, 1, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
			store := &countingStore{Store: inmem.NewStore(inmem.Options{Now: clock.Now}), finishErr: tt.finishErr}
			r, err := store.Reserve(t.Context(), owner, jobs.Cost{Jobs: 1, Tokens: 1000}, jobs.Budgets{})
			if err != nil {
				t.Fatal(err)
			}
			job, _, err := store.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: "Say hello.", Model: "m",
				MaxTokens: 500, Budget: jobs.Budget{Day: r.Day, Reserved: 1000}}, "fp")
			if err != nil {
				t.Fatal(err)
			}
			model := &fakeModel{GenerateFunc: func(ctx context.Context, _ jobs.Request, _ func(string)) (jobs.Progress, error) {
				if tt.cancel {
					if _, err := store.Cancel(ctx, owner, job.ID); err != nil {
						t.Error(err)
					}
				}
				return jobs.Progress{GeneratedText: "Hello.", Tokens: used, StopReason: "end_turn"}, nil
			}}
			w, err := New(store, &fakeQueue{}, model, testConfig(), Options{Meter: store, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, 1)}}); err != nil {
				t.Fatal(err)
			}
			if len(store.finishedAs) != tt.finishings || store.finishedAs[0].Charge != used {
				t.Errorf("Finish got %+v, want %d result charging the attempt's %+v", store.finishedAs, tt.finishings, used)
			}
			if store.charges != tt.charges {
				t.Errorf("%d charges apart from the result, want %d", store.charges, tt.charges)
			}
			got, err := store.Get(t.Context(), owner, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status || got.Budget.Charged != used.Total() || got.Budget.ChargedAttempt != 1 {
				t.Errorf("job %s with budget %+v; want %s, %d charged to attempt 1", got.Status, got.Budget, tt.status, used.Total())
			}
			u, err := store.Usage(t.Context(), owner)
			if err != nil {
				t.Fatal(err)
			}
			if u.Charged != used.Total() || u.Active != tt.active {
				t.Errorf("usage %+v, want %d charged once and %d active", u, used.Total(), tt.active)
			}
		})
	}
}
