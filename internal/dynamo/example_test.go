package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
)

// A job's life in the store, on kumo (the local DynamoDB) in this process:
// every transition is a conditional write, so a second claim, or a write
// by an attempt that lost the job, is a conflict rather than a lost update.
func ExampleStore() {
	ctx := context.Background()
	k := standin.StartKumo()
	table := "example-" + jobs.NewID() // kumo's tables are shared by the process
	if err := dynamo.CreateTable(ctx, k.DynamoDB, table); err != nil {
		panic(err)
	}
	store := dynamo.New(k.DynamoDB, table, dynamo.Options{})

	job, _, err := store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: "user-1", Prompt: "hello", Model: jobs.DefaultModel, MaxTokens: 20}, "")
	if err != nil {
		panic(err)
	}
	claimed, err := store.Claim(ctx, job.Owner, job.ID, time.Minute)
	if err != nil {
		panic(err)
	}
	_, err = store.Claim(ctx, job.Owner, job.ID, time.Minute)
	fmt.Println("a second claim conflicts:", errors.Is(err, jobs.ErrConflict))

	err = store.Finish(ctx, job.Owner, job.ID, claimed.Attempts, jobs.Progress{
		GeneratedText: "hi there", StopReason: "end_turn", Tokens: jobs.Tokens{Input: 2, Output: 3}})
	if err != nil {
		panic(err)
	}
	done, err := store.Get(ctx, job.Owner, job.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(done.Status, done.GeneratedText, done.Attempts)

	_, err = store.Get(ctx, "user-2", job.ID)
	fmt.Println("another user's job is not found:", errors.Is(err, jobs.ErrNotFound))
	// Output:
	// a second claim conflicts: true
	// succeeded hi there 1
	// another user's job is not found: true
}
