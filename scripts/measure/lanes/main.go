// Command lanes measures how the product behaves with many users at once
// (docs/benchmarks.md, "Many users at once"). Each measurement starts a dev
// stack of its own (internal/dev/devstack, as `make dev` runs it) in this
// process, on free ports with its data in a temporary dir:
//
//	go run ./scripts/measure/lanes                  # all seven (about 35 minutes)
//	go run ./scripts/measure/lanes -only wait,amplify
//	go run ./scripts/measure/lanes -only capacity -capacity-concurrent 4 -capacity-users 1
//
// The measurements:
//
//   - wait: one user queues 1,000 bulk jobs, then 5 users each submit one
//     job from "the web app" (POST /generate); their queue wait
//     (started_at - created_at), target p95 ≤ 5 s.
//   - fair: user A queues 2,000 bulk jobs, user B 20 a few seconds later;
//     B's time against its fair share of the bulk lane, and A's use of the
//     lane once B has gone.
//   - capacity: a bulk backlog of 400 jobs, from one user and from four,
//     against a local model of 4 and of 10 calls at once (the dev stack's
//     quota follows it): the share of those calls at once the backlog
//     used, target ≥ 95%; calls the model refused, messages sent back.
//   - borrow: once one user's 400 bulk jobs hold every seat of a model of
//     4 and of 10 calls at once, another user sends 20 interactive jobs one
//     at a time: their wait, submit to claim (p95 ≤ 5 s), and each bulk job
//     that gave its seat back: displaced once, its whole text, its output
//     tokens its words.
//   - quota: one user's 2,000 jobs against a local model with a quota
//     (PROMPTQ_LOCAL_MAX_CONCURRENT=8 and a tokens-per-minute quota): the
//     share of the quota used, calls throttled, jobs failed, dead letters.
//   - amplify: 100 identical entries in one batch call, and 50 replays of a
//     queued job: the messages they send.
//   - heldback: a batch of 10 bulk jobs that the model's pace holds back
//     (one started every couple of minutes), replayed whole twice, 2.5
//     minutes apart: the messages in the bulk queue after each replay,
//     target one a job not ended.
//
// It prints each measurement's figures against their targets and exits 1
// if one was missed, 2 if a measurement could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

func main() {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lanes: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

var scenarios = []string{"wait", "fair", "capacity", "borrow", "quota", "amplify", "heldback"}

// ints reads a comma-separated list of positive numbers.
func ints(flag, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want positive numbers, comma-separated", flag, list)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) (bool, error) {
	fs := flag.NewFlagSet("lanes", flag.ContinueOnError)
	only := fs.String("only", strings.Join(scenarios, ","), "the measurements to run, comma-separated: "+strings.Join(scenarios, ", "))
	logPath := fs.String("log", "", "write the stacks' logs (JSON lines) here; default: none")

	wait := loadtest.WaitOptions{}
	fs.IntVar(&wait.BulkJobs, "wait-bulk", 1000, "wait: the bulk backlog one user queues")
	fs.IntVar(&wait.Users, "wait-users", 5, "wait: users who then submit one interactive job each")
	fs.DurationVar(&wait.Head, "wait-head", 3*time.Second, "wait: how long before them the backlog is queued")
	fs.DurationVar(&wait.Apart, "wait-apart", 0, "wait: time between two users' submissions (0: all at once)")
	fs.DurationVar(&wait.Target, "wait-target", 5*time.Second, "wait: target p95 queue wait")

	fair := loadtest.FairOptions{}
	fs.IntVar(&fair.AJobs, "fair-a", 2000, "fair: user A's backlog")
	fs.IntVar(&fair.BJobs, "fair-b", 20, "fair: user B's batch")
	fs.DurationVar(&fair.After, "fair-after", 5*time.Second, "fair: B submits this long after A")
	fs.IntVar(&fair.MaxTokens, "fair-max-tokens", 100, "fair: every job's max_tokens")
	fs.Float64Var(&fair.Multiple, "fair-multiple", 2, "fair: target: B's time at most this many fair-share times")
	fs.DurationVar(&fair.Watch, "fair-watch", time.Minute, "fair: how long A is watched after B's end")

	quota := loadtest.QuotaOptions{}
	fs.IntVar(&quota.Jobs, "quota-jobs", 2000, "quota: the backlog")
	fs.IntVar(&quota.Users, "quota-users", 1, "quota: users the backlog is split between (docs/benchmarks.md has 1 and 4)")
	fs.IntVar(&quota.MaxConcurrent, "quota-concurrent", 8, "quota: PROMPTQ_LOCAL_MAX_CONCURRENT")
	fs.IntVar(&quota.TokensPerMinute, "quota-tpm", 40000, "quota: PROMPTQ_LOCAL_TOKENS_PER_MINUTE")
	fs.IntVar(&quota.PacerTPM, "quota-pacer-tpm", 0, "quota: PROMPTQ_MODEL_TOKENS_PER_MINUTE, the workers' idea of the quota (0: the model's)")
	fs.Float64Var(&quota.TokensPerSecond, "quota-pace", 300, "quota: the local model's words a second")
	fs.IntVar(&quota.MaxTokens, "quota-max-tokens", 100, "quota: every job's max_tokens")
	fs.Float64Var(&quota.MinUse, "quota-min-use", 0.85, "quota: target share of the quota used")
	fs.Float64Var(&quota.MaxThrottled, "quota-max-throttled", 0.10, "quota: target share of calls throttled")

	capacity := loadtest.CapacityOptions{}
	capConcurrent := fs.String("capacity-concurrent", "4,10", "capacity: PROMPTQ_LOCAL_MAX_CONCURRENT, one run each, comma-separated")
	capUsers := fs.String("capacity-users", "1,4", "capacity: users the backlog is split between, one run each, comma-separated")
	fs.IntVar(&capacity.Jobs, "capacity-jobs", 400, "capacity: the backlog")
	fs.Float64Var(&capacity.TokensPerSecond, "capacity-pace", 40, "capacity: the local model's words a second (make dev's)")
	fs.IntVar(&capacity.MaxTokens, "capacity-max-tokens", 40, "capacity: every job's max_tokens")
	fs.Float64Var(&capacity.MinUse, "capacity-min-use", 0.95, "capacity: target share of the calls at once used")

	borrow := loadtest.BorrowOptions{}
	borrowConcurrent := fs.String("borrow-concurrent", "4,10", "borrow: PROMPTQ_LOCAL_MAX_CONCURRENT, one run each, comma-separated")
	fs.IntVar(&borrow.BulkJobs, "borrow-bulk", 400, "borrow: one user's bulk backlog")
	fs.IntVar(&borrow.BulkWords, "borrow-words", 80, "borrow: the words each bulk job's answer echoes")
	fs.IntVar(&borrow.Interactive, "borrow-interactive", 20, "borrow: interactive jobs, one at a time")
	fs.DurationVar(&borrow.Apart, "borrow-apart", 3*time.Second, "borrow: at least this long between two interactive jobs")
	fs.DurationVar(&borrow.Target, "borrow-target", 5*time.Second, "borrow: target p95 interactive wait")

	amp := loadtest.AmplifyOptions{}
	fs.IntVar(&amp.Entries, "amplify-entries", 100, "amplify: identical entries in one batch call")
	fs.IntVar(&amp.Replays, "amplify-replays", 50, "amplify: replays of one queued job")

	held := loadtest.HeldBackOptions{}
	fs.IntVar(&held.Jobs, "heldback-jobs", 10, "heldback: the batch's bulk jobs")
	fs.IntVar(&held.MaxTokens, "heldback-max-tokens", 1000, "heldback: every job's max_tokens")
	fs.IntVar(&held.TokensPerMinute, "heldback-tpm", 600, "heldback: PROMPTQ_MODEL_TOKENS_PER_MINUTE, the workers' pace")
	fs.IntVar(&held.Replays, "heldback-replays", 2, "heldback: replays of the whole batch")
	fs.DurationVar(&held.Apart, "heldback-apart", 150*time.Second, "heldback: time to the first replay and between replays (over the API's 2-minute resend threshold)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	chosen := strings.Split(*only, ",")
	for _, s := range chosen {
		if !slices.Contains(scenarios, s) {
			return false, fmt.Errorf("-only %q: want some of %s", s, strings.Join(scenarios, ", "))
		}
	}
	capConcurrents, err := ints("-capacity-concurrent", *capConcurrent)
	if err != nil {
		return false, err
	}
	capUserCounts, err := ints("-capacity-users", *capUsers)
	if err != nil {
		return false, err
	}
	borrowConcurrents, err := ints("-borrow-concurrent", *borrowConcurrent)
	if err != nil {
		return false, err
	}
	stack := loadtest.StackOptions{}
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return false, err
		}
		defer f.Close()
		stack.Log = f
	}
	wait.Stack, fair.Stack, quota.Stack, amp.Stack, held.Stack = stack, stack, stack, stack, stack
	capacity.Stack, borrow.Stack = stack, stack
	wait.Timeout, fair.Timeout, quota.Timeout = 5*time.Minute, 10*time.Minute, 30*time.Minute
	capacity.Timeout, borrow.Timeout = 20*time.Minute, 20*time.Minute

	ok := true
	for _, s := range scenarios {
		if !slices.Contains(chosen, s) {
			continue
		}
		// Each measurement, once, or once for each of its settings.
		var runs []func() (*loadtest.LaneReport, error)
		switch s {
		case "wait":
			runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureInteractiveWait(ctx, wait) })
		case "fair":
			runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureBulkFairness(ctx, fair) })
		case "capacity":
			for _, n := range capConcurrents {
				for _, u := range capUserCounts {
					o := capacity
					o.MaxConcurrent, o.Users = n, u
					runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureCapacityUse(ctx, o) })
				}
			}
		case "borrow":
			for _, n := range borrowConcurrents {
				o := borrow
				o.MaxConcurrent = n
				runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureBorrowedSeats(ctx, o) })
			}
		case "quota":
			runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureQuotaUse(ctx, quota) })
		case "amplify":
			runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureAmplification(ctx, amp) })
		case "heldback":
			runs = append(runs, func() (*loadtest.LaneReport, error) { return loadtest.MeasureHeldBackReplays(ctx, held) })
		}
		for _, measure := range runs {
			start := time.Now()
			fmt.Fprintf(stdout, "lanes: %s ...\n", s)
			rep, err := measure()
			if err != nil {
				return false, fmt.Errorf("%s: %w", s, err)
			}
			rep.Write(stdout)
			fmt.Fprintf(stdout, "   (%s)\n\n", time.Since(start).Round(time.Second))
			ok = ok && rep.OK()
		}
	}
	if ok {
		fmt.Fprintln(stdout, "lanes: every target met")
	} else {
		fmt.Fprintln(stdout, "lanes: a target was missed (MISSED above)")
	}
	return ok, nil
}
