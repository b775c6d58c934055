package loadtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// HeldBackOptions configure [MeasureHeldBackReplays].
type HeldBackOptions struct {
	Stack StackOptions
	Jobs  int // one batch of bulk jobs
	// MaxTokens is each job's max_tokens and TokensPerMinute the workers'
	// pace (PROMPTQ_MODEL_TOKENS_PER_MINUTE): a job's worst case far over
	// what a minute refills holds all but one of the batch back at a time.
	MaxTokens       int
	TokensPerMinute int
	Replays         int           // replays of the whole batch
	Apart           time.Duration // from the batch to the first replay, and between replays
}

// MeasureHeldBackReplays counts the queue messages of a batch its lane
// holds back while its owner replays it, as scripts do when they retry a
// run: a tokens-per-minute pace far smaller than the batch's worst cases
// lets the workers start one job every couple of minutes and sends the
// others back to wait, received and sent back again each time they come
// back. Its owner replays the whole batch every Apart, longer than the
// API's resend threshold (submit.DefaultResendAfter). After each replay the
// bulk queue (visible, delayed and received messages) must hold one
// message for each job not ended: a send-back counts as a worker taking
// the job, so a replay sends none again.
func MeasureHeldBackReplays(ctx context.Context, o HeldBackOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("held-back replays: %d bulk jobs held back by the model's pace, replayed %d times %s apart",
		o.Jobs, o.Replays, o.Apart)}
	so := o.Stack
	so.Env = withEnv(so.Env, withEnv(noUserLimits, map[string]string{
		"PROMPTQ_MODEL_TOKENS_PER_MINUTE": strconv.Itoa(o.TokensPerMinute),
	}))
	st, err := StartStack(ctx, so)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rep.note("pace %d tokens a minute, max_tokens %d: about one job started every %s",
		o.TokensPerMinute, o.MaxTokens, (time.Duration(o.MaxTokens) * time.Minute / time.Duration(o.TokensPerMinute) * 10 / 9).Round(time.Second))
	users, err := SignUpUsers(ctx, st.Info, "heldback", 1, 1)
	if err != nil {
		return nil, err
	}
	c := NewClient(st.Info.APIURL, 8)
	run := runID("held")
	start := time.Now()
	ids, err := submitBulk(ctx, c, run, 0, users[0], o.Jobs, o.MaxTokens)
	if err != nil {
		return nil, err
	}
	sqsClient := standin.SQS(st.Info.SQSEndpoint)
	for r := 1; r <= o.Replays; r++ {
		if !sleepUntil(ctx, start.Add(time.Duration(r)*o.Apart)) {
			return nil, ctx.Err()
		}
		again, err := submitBulk(ctx, c, run, 0, users[0], o.Jobs, o.MaxTokens)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(again, ids) {
			return nil, fmt.Errorf("replay %d answered other jobs than the batch's", r)
		}
		d, err := sqsqueue.QueueDepth(ctx, sqsClient, st.Info.QueueURLs[jobs.LaneBulk])
		if err != nil {
			return nil, err
		}
		recs, err := ReadJobs(ctx, st.DB, st.Info.TableName, users)
		if err != nil {
			return nil, err
		}
		counts := countStatus(pick(recs[users[0].Sub], ids))
		open := counts[string(jobs.StatusQueued)] + counts[string(jobs.StatusRunning)]
		msgs := d.Visible + d.InFlight + d.Delayed
		rep.figure(fmt.Sprintf("replay %d (%s in): messages in the bulk queue / jobs not ended", r, time.Since(start).Round(time.Second)),
			fmt.Sprintf("%d / %d", msgs, open), "≤ 1 a job", msgs <= open)
	}
	return rep, nil
}
