package worker

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/jobs"
)

// After a replay from the dead-letter queue the message's receive count
// starts again while the job's attempts go on: the give-up message must
// not call the receives the job's attempts.
func TestGivingUpAfterAReplayCountsTheJobsAttemptsTruly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		receive, attempts int
		want              string
	}{
		{"first run", 5, 5, "Gave up after 5 attempts. The last one failed with: An internal error occurred."},
		{"after a replay", 5, 9, "Gave up after 5 tries in a row failed (the job has had 9 attempts in all, counting runs before it was sent to the workers again). The last one failed with: An internal error occurred."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig())
			job := newJob(tt.attempts)
			b.store.ClaimFunc = claimReturns(t, job)
			b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
				return jobs.Progress{}, errBoom
			}
			var failures []jobs.Failure
			b.store.FailFunc = func(_ context.Context, _, _ string, _ int, f jobs.Failure) error {
				failures = append(failures, f)
				return nil
			}
			b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{message(job, tt.receive)}})
			want := []jobs.Failure{{Code: jobs.FailureRetries, Message: tt.want}}
			if !slices.Equal(failures, want) {
				t.Errorf("Fail calls = %+v, want %+v", failures, want)
			}
		})
	}
}
