package dlq_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/jobs"
)

func TestPurgeAsksOnATerminalAndRefusesWithoutOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.deadJob("Why is the sky blue?")
	untouched := func(when string) {
		t.Helper()
		if got := b.job(j.ID); got.Status != jobs.StatusFailed || got.Failure.Code != jobs.FailureRetries {
			t.Errorf("%s: job is %s %+v, want it untouched", when, got.Status, got.Failure)
		}
		if n := b.depth(b.dlqURL); n != 1 {
			t.Errorf("%s: dead-letter queue holds %d messages, want 1", when, n)
		}
	}

	r := b.run("yes\n", false, "purge")
	if r.code != dlq.ExitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("purge with stdin not a terminal: exit %d, stderr %q; want %d and a hint about --yes", r.code, r.stderr, dlq.ExitUsage)
	}
	untouched("after a refused purge")

	r = b.run("no\n", true, "purge")
	if r.code != dlq.ExitNothing || !strings.Contains(r.stderr, "Type yes") || !strings.Contains(r.stdout, j.ID) {
		t.Errorf("purge answered no: exit %d, stdout %q, stderr %q; want %d after listing the job and asking", r.code, r.stdout, r.stderr, dlq.ExitNothing)
	}
	untouched("after a declined purge")

	r = b.run("", false, "purge", "--dry-run")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "would purge job "+j.ID) {
		t.Errorf("purge --dry-run: exit %d, stdout %q; want 0 and the job it would purge", r.code, r.stdout)
	}
	untouched("after a dry run")

	r = b.run("yes\n", true, "purge")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "1 purged") {
		t.Fatalf("purge answered yes: exit %d, stdout %q; want 0 and 1 purged", r.code, r.stdout)
	}
	got := b.job(j.ID)
	if got.Status != jobs.StatusFailed || got.Failure == nil || got.Failure.Code != jobs.FailurePurged ||
		!strings.HasPrefix(got.Failure.Message, dlq.PurgedMessage) || !strings.Contains(got.Failure.Message, "throttling") {
		t.Errorf("purged job is %s with failure %+v; want failed %s, saying so in words and keeping the last error", got.Status, got.Failure, jobs.FailurePurged)
	}
	if n := b.depth(b.dlqURL); n != 0 {
		t.Errorf("dead-letter queue holds %d messages after the purge, want 0", n)
	}
	if !strings.Contains(r.stderr, "job marked failed for good") || !strings.Contains(r.stderr, "dead letter purged") {
		t.Errorf("purge logged %q; want the mark and the delete", r.stderr)
	}
}

func TestPurgeWithYesTakesOnlyWhatTheFiltersSelect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keep := b.deadJob("Keep me.")
	b.sendDLQ(`{"job_id":"` + jobs.NewID() + `","owner":"` + owner + `"}`) // its job is gone (TTL)
	b.sendDLQ(`not json`)

	r := b.run("", false, "purge", "--yes", "--reason", "JOB_NOT_FOUND")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "1 purged") {
		t.Errorf("purge --reason job_not_found: exit %d, stdout %q; want 1 purged", r.code, r.stdout)
	}
	r = b.run("", false, "purge", "--yes", "--reason", "invalid_message")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "1 purged") {
		t.Errorf("purge --reason invalid_message: exit %d, stdout %q; want 1 purged", r.code, r.stdout)
	}
	r = b.run("", false, "purge", "--yes", "--reason", "no such reason")
	if r.code != dlq.ExitNothing {
		t.Errorf("purge matching nothing: exit %d, want %d", r.code, dlq.ExitNothing)
	}
	if n := b.depth(b.dlqURL); n != 1 {
		t.Errorf("dead-letter queue holds %d messages, want the 1 not selected", n)
	}
	if got := b.job(keep.ID); got.Failure == nil || got.Failure.Code != jobs.FailureRetries {
		t.Errorf("the job not selected was changed: %+v", got.Failure)
	}
}

func TestReplayRemovesMessagesOfEndedJobsAndLeavesThoseItCannotReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	done := b.deadJob("Already done.")
	// It succeeded through another copy of its message: requeue it.
	if _, err := b.store.Requeue(ctx, owner, done.ID); err != nil {
		t.Fatal(err)
	}
	c, err := b.store.Claim(ctx, owner, done.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.Finish(ctx, owner, done.ID, c.Attempts, jobs.Progress{GeneratedText: "ok"}); err != nil {
		t.Fatal(err)
	}
	b.sendDLQ(`{"job_id":"` + jobs.NewID() + `","owner":"` + owner + `"}`)
	b.sendDLQ(`{"job_id":"x","owner":""}`)

	r := b.run("", false, "replay")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "1 removed") || !strings.Contains(r.stdout, "2 skipped") {
		t.Errorf("replay: exit %d, stdout %q; want 1 removed, 2 skipped", r.code, r.stdout)
	}
	if got := b.job(done.ID); got.Status != jobs.StatusSucceeded || got.Attempts != c.Attempts {
		t.Errorf("the succeeded job is now %s at attempt %d; want it untouched", got.Status, got.Attempts)
	}
	if n, q := b.depth(b.dlqURL), b.depth(b.queueURL); n != 2 || q != 0 {
		t.Errorf("dead-letter queue %d, jobs queue %d; want the 2 unreplayable left and nothing sent", n, q)
	}
	l := b.list()
	statuses := map[string]int{}
	for _, e := range l.Messages {
		statuses[e.Status]++
	}
	if statuses[dlq.StatusMissing] != 1 || statuses[dlq.StatusInvalidMessage] != 1 {
		t.Errorf("list shows statuses %v, want one missing and one invalid_message", statuses)
	}
	if r := b.run("", false, "replay"); r.code != dlq.ExitNothing {
		t.Errorf("replay with only unreplayable messages: exit %d, want %d", r.code, dlq.ExitNothing)
	}
}

func TestReplayFiltersSelectByJobAndMax(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c := b.deadJob("A."), b.deadJob("C.")
	b.deadJob("B.")

	r := b.run("", false, "replay", "--job", a.ID, "--job", c.ID)
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "2 replayed") {
		t.Fatalf("replay --job a --job c: exit %d, stdout %q", r.code, r.stdout)
	}
	for _, id := range []string{a.ID, c.ID} {
		if st := b.job(id).Status; st != jobs.StatusQueued {
			t.Errorf("job %s is %s, want queued", id, st)
		}
	}
	if r := b.run("", false, "replay", "--older-than", "1h"); r.code != dlq.ExitNothing {
		t.Errorf("replay --older-than 1h of a fresh message: exit %d, want %d", r.code, dlq.ExitNothing)
	}
	b.deadJob("D.")
	r = b.run("", false, "replay", "--max", "1")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "1 replayed") || b.depth(b.dlqURL) != 1 {
		t.Errorf("replay --max 1: exit %d, stdout %q, %d left; want 1 replayed, 1 left", r.code, r.stdout, b.depth(b.dlqURL))
	}
}

func TestShowPrintsTheMessageAndTheJobWithThePromptCut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	prompt := "Write a long story about a lighthouse keeper. " + strings.Repeat("SECRET-TAIL ", 40)
	j := b.deadJob(prompt)

	r := b.run("", false, "show", j.ID)
	if r.code != dlq.ExitOK {
		t.Fatalf("show: exit %d", r.code)
	}
	for _, want := range []string{"message (dead-letter queue)", "job (table)", j.ID, "failed", jobs.FailureRetries, "lighthouse", "characters"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Count(r.stdout, "SECRET-TAIL") > 10 {
		t.Errorf("show printed the whole prompt:\n%s", r.stdout)
	}
	if strings.Contains(r.stderr, "lighthouse") {
		t.Errorf("the log carries prompt text: %s", r.stderr)
	}

	r = b.run("", false, "show", "--json", j.ID)
	var s dlq.Shown
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Message == nil || s.Job == nil {
		t.Fatalf("show --json: %v, %+v", err, s)
	}
	if s.Job.PromptChars != len(prompt) || len(s.Job.Prompt) >= len(prompt) || s.Job.Status != jobs.StatusFailed {
		t.Errorf("show --json job %+v; want the prompt cut, its length %d and status failed", s.Job, len(prompt))
	}
	if b.depth(b.dlqURL) != 1 {
		t.Error("show removed the message")
	}

	other := jobs.NewID()
	if r := b.run("", false, "show", other); r.code != dlq.ExitNothing || !strings.Contains(r.stdout, "none in the dead-letter queue") {
		t.Errorf("show of a job with no message: exit %d, stdout %q; want %d", r.code, r.stdout, dlq.ExitNothing)
	}
}

func TestUsageErrorsExitWith2AndTouchNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.deadJob("Stay.")
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"list", "--nope"},
		{"list", "extra"},
		{"show"},
		{"show", "not-a-job-id"},
		{"replay", "--job", "nope"},
		{"replay", "--bulk", "--reason", "x"},
		{"replay", "--max", "-1"},
		{"replay", "--stack", "Promptq"},
		{"list", "--region", "us-east-1"},
	} {
		if r := b.run("", false, args...); r.code != dlq.ExitUsage {
			t.Errorf("dlq %v: exit %d, want %d", args, r.code, dlq.ExitUsage)
		}
	}
	if n := b.depth(b.dlqURL); n != 1 {
		t.Errorf("dead-letter queue holds %d messages, want 1", n)
	}
	if r := b.run("", false, "--help"); r.code != dlq.ExitOK {
		t.Errorf("--help: exit %d, want 0", r.code)
	}
}

func TestAMissingDevStackIsAFailureThatSaysWhatToDo(t *testing.T) {
	t.Parallel()
	var stderr standin.Buffer
	code := dlq.Main(t.Context(), []string{"list"}, dlq.Env{
		Getenv: func(k string) string {
			if k == "PROMPTQ_DEV_DIR" {
				return t.TempDir()
			}
			return ""
		},
		Stdout: &standin.Buffer{}, Stderr: &stderr,
	})
	if code != dlq.ExitFailure || !strings.Contains(stderr.String(), "make dev") || !strings.Contains(stderr.String(), "--stack") {
		t.Errorf("exit %d, stderr %q; want %d naming make dev and --stack", code, stderr.String(), dlq.ExitFailure)
	}
}

// After an interrupted replay a worker may be running the job from its
// live message while the dead letter is still here. Purge must not fail
// that job (its result is being paid for): it deletes the stale dead
// letter, leaves the job to its worker and says so.
func TestPurgeLeavesAJobAWorkerIsRunningAloneAndSaysSo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	j := b.deadJob("Still running.")
	// The replay requeued it and sent its message, then was interrupted;
	// a worker claimed the job from the jobs queue.
	if _, err := b.store.Requeue(ctx, owner, j.ID); err != nil {
		t.Fatal(err)
	}
	running, err := b.store.Claim(ctx, owner, j.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(when string) {
		t.Helper()
		got := b.job(j.ID)
		if got.Status != jobs.StatusRunning || got.Attempts != running.Attempts || got.Failure != nil ||
			!got.LeaseUntil.Equal(running.LeaseUntil) {
			t.Errorf("%s: job is %s at attempt %d, failure %+v; want it running at attempt %d, untouched",
				when, got.Status, got.Attempts, got.Failure, running.Attempts)
		}
	}

	r := b.run("", false, "purge", "--dry-run")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "would purge job "+j.ID) || !strings.Contains(r.stdout, "is running it now") {
		t.Errorf("purge --dry-run: exit %d, stdout %q; want 0 and the job marked as running now", r.code, r.stdout)
	}
	unchanged("after a dry run")

	r = b.run("", false, "purge", "--yes")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "1 purged") || !strings.Contains(r.stdout, "1 left running") ||
		!strings.Contains(r.stdout, "left job "+j.ID) {
		t.Errorf("purge --yes: exit %d, stdout %q; want 0, 1 purged, 1 left running, naming the job", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "job left running") {
		t.Errorf("purge logged %q; want the job left running", r.stderr)
	}
	unchanged("after the purge")
	if n := b.depth(b.dlqURL); n != 0 {
		t.Errorf("dead-letter queue holds %d messages after the purge, want 0 (the stale copy deleted)", n)
	}
	// What the worker then writes is kept.
	if err := b.store.Finish(ctx, owner, j.ID, running.Attempts, jobs.Progress{GeneratedText: "paid for"}); err != nil {
		t.Errorf("the worker could not finish the job after the purge: %v", err)
	}

	// --json says the same, for scripts.
	k := b.deadJob("Running too.")
	if _, err := b.store.Requeue(ctx, owner, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Claim(ctx, owner, k.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	r = b.run("", false, "purge", "--yes", "--json")
	var s dlq.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || r.code != dlq.ExitOK {
		t.Fatalf("purge --yes --json: exit %d, stdout %q: %v", r.code, r.stdout, err)
	}
	if s.Purged != 1 || s.LeftRunning != 1 || len(s.Jobs) != 1 || s.Jobs[0].JobID != k.ID || s.Jobs[0].Outcome != dlq.OutcomeLeftRunning {
		t.Errorf("purge --json summary %+v; want 1 purged, 1 left running, naming job %s", s, k.ID)
	}
}

// The listing's numbers must not move because someone looked: SQS counts
// every receive, this tool's own looks included, so the table shows the
// job's attempts (how often a worker started it) instead.
func TestListShowsTheJobsAttemptsWhichLookingDoesNotChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.deadJob("Count me.")
	want := b.job(j.ID).Attempts
	for i := range 4 {
		r := b.run("", false, "list")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("list %d printed %q; want a count line, a header and a row", i, r.stdout)
		}
		header, row := strings.Fields(lines[1]), strings.Fields(lines[2])
		col := slices.Index(header, "ATTEMPTS")
		if col < 0 || slices.Contains(header, "RECEIVES") {
			t.Fatalf("list %d header %q; want ATTEMPTS and no RECEIVES", i, lines[1])
		}
		// JOB ID is two words in the header.
		if got := row[col-1]; got != strconv.Itoa(want) {
			t.Errorf("list %d: attempts column %q, want %d", i, got, want)
		}
		if l := b.list(); len(l.Messages) != 1 || l.Messages[0].Attempts != want {
			t.Errorf("list --json %d: %+v; want attempts %d", i, l.Messages, want)
		}
	}
}

func TestShowOfAMalformedJobIDSaysWhichIDIsMalformed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run("", false, "show", "not-a-job-id")
	if r.code != dlq.ExitUsage || !strings.Contains(r.stderr, `"not-a-job-id" is not a job id`) || strings.Contains(r.stderr, "takes one job id") {
		t.Errorf("show not-a-job-id: exit %d, stderr %q; want %d naming the malformed id", r.code, r.stderr, dlq.ExitUsage)
	}
	r = b.run("", false, "show", jobs.NewID(), jobs.NewID())
	if r.code != dlq.ExitUsage || !strings.Contains(r.stderr, "show takes one job id (got 2)") {
		t.Errorf("show with two ids: exit %d, stderr %q; want %d saying it takes one", r.code, r.stderr, dlq.ExitUsage)
	}
}
