package jobs_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// A request body is decoded and checked against the limits and its
// model's rules: defaults applied, or a 400's error naming the field.
func ExampleDecodeRequest() {
	l := jobs.DefaultLimits()
	r, err := jobs.DecodeRequest([]byte(`{"prompt": "Write a haiku about queues."}`), l)
	fmt.Println(r.Model, r.MaxTokens, r.Effort, r.Lane, err)

	_, err = jobs.DecodeRequest([]byte(`{"prompt": "Hi", "temperature": 0.5}`), l)
	var e *jobs.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, e.Field)
	}
	// Output:
	// us.anthropic.claude-haiku-5-5 1024 medium interactive <nil>
	// invalid_request temperature
}

// The rules say which state a transition takes a job from: a worker that
// lost its claim (an older attempt) may not finish the job, the holder
// may, and a finished job cannot be cancelled.
func ExampleRule_Allows() {
	now := time.Now()
	running := jobs.Job{Status: jobs.StatusRunning, Attempts: 2, LeaseUntil: now.Add(time.Minute)}
	fmt.Println(jobs.Rules[jobs.Finish].Allows(running, now, 1))
	fmt.Println(jobs.Rules[jobs.Finish].Allows(running, now, 2))
	fmt.Println(jobs.Rules[jobs.Cancel].Allows(jobs.Job{Status: jobs.StatusSucceeded}, now, 0))
	// Output:
	// false
	// true
	// false
}

// A stopped answer goes on the way its model continues; Join adds what
// the next call wrote without the words it repeats, so the text only
// grows.
func ExampleJoin() {
	before := "The queue holds the jobs until a worker is fr"
	fmt.Println(jobs.Join(before, "the jobs until a worker is free to run them.", jobs.ContinuationOf("us.anthropic.claude-haiku-5-5"), true))
	// Output:
	// The queue holds the jobs until a worker is free to run them.
}
