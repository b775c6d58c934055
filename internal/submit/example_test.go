package submit_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

// Submitting a job stores it queued and sends its message on its lane; the
// same idempotency key again answers with the job already made.
func Example() {
	store := inmem.NewStore(inmem.Options{})
	queue := &inmem.Queue{}
	svc, err := submit.New(submit.Config{Logger: slog.New(slog.DiscardHandler)},
		submit.Deps{Store: store, Queue: queue, Budget: store})
	if err != nil {
		panic(err)
	}
	entry := submit.Entry{
		Request:        jobs.Request{Prompt: "Write a haiku about queues.", Model: jobs.DefaultModel, MaxTokens: 100, Lane: jobs.LaneBulk},
		IdempotencyKey: "line-1",
	}
	for range 2 {
		res, err := svc.Submit(context.Background(), "user-1", []submit.Entry{entry})
		if err != nil {
			panic(err)
		}
		fmt.Println(res[0].Job.Status, res[0].Job.Lane, "replayed:", res[0].Replayed)
	}
	fmt.Println("messages sent:", len(queue.Sent()))
	// Output:
	// queued bulk replayed: false
	// queued bulk replayed: true
	// messages sent: 1
}
