package worker_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

// echoModel answers every prompt with its own text, in two deltas.
type echoModel struct{}

func (echoModel) Generate(_ context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	onDelta("You said: ")
	onDelta(req.Prompt)
	return jobs.Progress{GeneratedText: "You said: " + req.Prompt, StopReason: "end_turn",
		Tokens: jobs.Tokens{Input: 3, Output: 4}}, nil
}

// The worker's handler takes an SQS batch as Lambda delivers it: it claims
// each message's job, calls the model and records the answer and its
// tokens. A message it could not finish would be listed in the answer's
// BatchItemFailures, so SQS delivers it again.
func ExampleWorker_Handle() {
	ctx := context.Background()
	store := inmem.NewStore(inmem.Options{})
	job, _, err := store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: "user-1", Prompt: "hello", Model: jobs.DefaultModel, MaxTokens: 20}, "")
	if err != nil {
		panic(err)
	}
	w, err := worker.New(store, &inmem.Queue{}, echoModel{}, worker.DefaultConfig(), worker.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	resp, err := w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{
		MessageId:  "m1",
		Body:       fmt.Sprintf(`{"job_id":%q,"owner":%q}`, job.ID, job.Owner),
		Attributes: map[string]string{"ApproximateReceiveCount": "1"},
	}}})
	if err != nil {
		panic(err)
	}
	done, _ := store.Get(ctx, job.Owner, job.ID)
	fmt.Println("failures:", len(resp.BatchItemFailures))
	fmt.Println(done.Status, done.GeneratedText, done.Tokens.Input, done.Tokens.Output)
	// Output:
	// failures: 0
	// succeeded You said: hello 3 4
}
