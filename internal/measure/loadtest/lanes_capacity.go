package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// The lanes' use of the model's capacity (issue 28): how much of the
// model's calls at once a bulk backlog uses, and what an interactive job
// that arrives while the backlog has borrowed every seat waits.

// CapacityOptions configure [MeasureCapacityUse].
type CapacityOptions struct {
	Stack           StackOptions
	Jobs, Users     int     // the backlog, shared evenly by the users
	MaxConcurrent   int     // the local model's calls at once (PROMPTQ_LOCAL_MAX_CONCURRENT): the dev stack's quota
	TokensPerSecond float64 // the local model's words a second (PROMPTQ_LOCAL_TOKENS_PER_SECOND)
	MaxTokens       int     // every job's max_tokens
	MinUse          float64 // target share of the calls at once used while the backlog lasts
	Timeout         time.Duration
}

// MeasureCapacityUse runs a bulk backlog against the local model with a
// limit of calls at once, which the dev stack takes for its quota (the
// model's seats), and measures how much of it the backlog used: the
// model's calls at once, on average from the first call's start to the
// last one's (while jobs still waited), over the limit. The model refuses
// a call beyond its limit, as Bedrock throttles: none should be.
func MeasureCapacityUse(ctx context.Context, o CapacityOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("capacity use: %d bulk jobs from %s against a model of %d calls at once",
		o.Jobs, plural(o.Users, "user"), o.MaxConcurrent)}
	st, calls, sentBack, err := startWatched(ctx, o.Stack, map[string]string{
		"PROMPTQ_LOCAL_MAX_CONCURRENT":    strconv.Itoa(o.MaxConcurrent),
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": strconv.FormatFloat(o.TokensPerSecond, 'f', -1, 64),
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	q := st.Config.Quota
	rep.note("dev stack: %d seats (PROMPTQ_MODEL_CONCURRENCY, from the model's limit); pollers: %d interactive, %d bulk; model: %g words/s, max_tokens %d",
		q.Concurrency, q.MappingConcurrency(jobs.LaneInteractive), q.MappingConcurrency(jobs.LaneBulk), o.TokensPerSecond, o.MaxTokens)

	recs, err := runBacklog(ctx, st, rep, "capacity", o.Users, o.Jobs, o.MaxTokens, o.Timeout)
	if err != nil {
		return nil, err
	}
	total := len(recs)
	created, ended := span(recs)
	first, last := calls.Ran()
	mean, most := calls.AtOnce(first, last)
	use := mean / float64(o.MaxConcurrent)
	rep.note("all ended %s after the first was queued; the model's work, %s of calls, needs %s at %d at once",
		secs(ended.Sub(created)), secs(calls.Busy()), secs(calls.Busy()/time.Duration(o.MaxConcurrent)), o.MaxConcurrent)
	rep.figure("capacity used while the backlog lasted", fmt.Sprintf("%.1f%% (%.2f of %d at once)", 100*use, mean, o.MaxConcurrent),
		fmt.Sprintf("≥ %.0f%%", 100*o.MinUse), use >= o.MinUse)
	rep.show("each tenth of that time (at once)", tenths(calls, first, last))
	rep.figure("most calls at once", strconv.Itoa(most), fmt.Sprintf("≤ %d", o.MaxConcurrent), most <= o.MaxConcurrent)
	refused := calls.Outcomes()[string(jobs.KindRateLimited)]
	rep.figure("calls the model refused (over its limit)", strconv.Itoa(refused), "0", refused == 0)
	rep.show("messages sent back, per job", fmt.Sprintf("%.2f (%d)", float64(sentBack.all())/float64(total), sentBack.all()))
	return rep, finalChecks(ctx, st, rep, recs)
}

// tenths lists the calls at once, on average, in each tenth of the time
// from first to last: "3.9 4.0 ...".
func tenths(calls *ModelCalls, first, last time.Time) string {
	var parts []string
	step := last.Sub(first) / 10
	for i := range 10 {
		mean, _ := calls.AtOnce(first.Add(time.Duration(i)*step), first.Add(time.Duration(i+1)*step))
		parts = append(parts, fmt.Sprintf("%.1f", mean))
	}
	return strings.Join(parts, " ")
}

// finalChecks adds the figures every backlog ends with: jobs failed and
// dead letters, both 0.
func finalChecks(ctx context.Context, st *Stack, rep *LaneReport, recs []JobRecord) error {
	n := countStatus(recs)
	rep.figure("jobs failed", strconv.Itoa(n[string(jobs.StatusFailed)]), "0", n[string(jobs.StatusFailed)] == 0)
	dlq, err := sqsqueue.QueueDepth(ctx, standin.SQS(st.Info.SQSEndpoint), st.Info.DLQURL)
	if err != nil {
		return err
	}
	dead := dlq.Visible + dlq.InFlight + dlq.Delayed
	rep.figure("dead letters", strconv.Itoa(dead), "0", dead == 0)
	return nil
}

// BorrowOptions configure [MeasureBorrowedSeats].
type BorrowOptions struct {
	Stack         StackOptions
	MaxConcurrent int           // the local model's calls at once: the dev stack's quota
	BulkJobs      int           // one user's backlog
	BulkWords     int           // the words each bulk job's answer echoes
	Interactive   int           // interactive jobs, sent one at a time by another user
	Apart         time.Duration // at least this long between two of them
	Target        time.Duration // the interactive jobs' p95 wait
	Timeout       time.Duration // for everything to end
}

// MeasureBorrowedSeats measures what an interactive job waits when it
// arrives while a bulk backlog has borrowed every seat of the model, and
// what becomes of the bulk jobs that give a seat back. One user queues
// BulkJobs bulk jobs, each echoing an answer of BulkWords words; once
// every seat is busy, another user sends Interactive jobs to POST
// /generate, one at a time, each when every seat is busy again. Their wait
// is submit to first claim (started_at - created_at: an interactive job is
// claimed once). Each bulk job sent back displaced (the messages the
// worker sends say so) is read back with GET /jobs/{id} once it has
// ended: its text must be its whole answer, once, and its output tokens
// its words (none lost, none paid twice).
func MeasureBorrowedSeats(ctx context.Context, o BorrowOptions) (*LaneReport, error) {
	rep := &LaneReport{Scenario: fmt.Sprintf("borrowed seats: %d interactive jobs arriving while %d bulk jobs hold every seat of a model of %d calls at once",
		o.Interactive, o.BulkJobs, o.MaxConcurrent)}
	st, calls, sentBack, err := startWatched(ctx, o.Stack, map[string]string{"PROMPTQ_LOCAL_MAX_CONCURRENT": strconv.Itoa(o.MaxConcurrent)})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	q := st.Config.Quota
	rep.note("dev stack: %d seats, %d of them the interactive lane's reserve; bulk answers of %d words at make dev's pace",
		q.Concurrency, q.Split().Interactive, o.BulkWords)

	users, err := SignUpUsers(ctx, st.Info, "borrow", 2, 2)
	if err != nil {
		return nil, err
	}
	bulkUser, person := users[0], users[1]
	c := NewClient(st.Info.APIURL, 8)
	run := runID("borrow")
	answer := echoAnswer(o.BulkWords)
	bulkIDs, err := submitBulkOf(ctx, c, run, 0, bulkUser, o.BulkJobs, o.BulkWords+50, func(key string, u, j int) string {
		return fmt.Sprintf("[%s] bulk job %d\npromptq-echo\n%s", key, j, answer)
	})
	if err != nil {
		return nil, fmt.Errorf("queue the backlog: %w", err)
	}

	// One interactive job at a time, each once every seat is busy.
	busyFor := func(limit time.Duration) bool {
		for deadline := time.Now().Add(limit); calls.Running() < q.Concurrency; {
			if time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
				return false
			}
		}
		return true
	}
	var ids []string
	allBusy := 0
	for i := range o.Interactive {
		next := time.Now().Add(o.Apart)
		if busyFor(30 * time.Second) {
			allBusy++
		}
		key := Key(run, 1, i)
		id, err := generateOne(ctx, c, person, key, GenerateRequest{Prompt: fmt.Sprintf("[%s] interactive\npromptq-echo\nA short answer.", key), MaxTokens: 50})
		if err != nil {
			return nil, fmt.Errorf("interactive job %d: %w", i, err)
		}
		ids = append(ids, id)
		if !sleepUntil(ctx, next) {
			return nil, ctx.Err()
		}
	}
	byOwner, err := waitJobs(ctx, st, users, 2*time.Second, o.Timeout, func(m map[string][]JobRecord) bool {
		return allTerminal(pick(m[person.Sub], ids)) && allTerminal(pick(m[bulkUser.Sub], bulkIDs))
	})
	if err != nil {
		return nil, err
	}
	mine := pick(byOwner[person.Sub], ids)
	waits := queueWaits(mine)
	p95 := Percentile(waits, 95)
	rep.figure("interactive wait (submit to claim) p95", secs(p95), "≤ "+secs(o.Target), len(waits) == o.Interactive && p95 <= o.Target)
	rep.show("each (sorted)", durations(waits))
	rep.show("arrived with every seat busy", fmt.Sprintf("%d of %d", allBusy, o.Interactive))
	ok := countStatus(mine)[string(jobs.StatusSucceeded)]
	rep.figure("interactive jobs succeeded", fmt.Sprintf("%d of %d", ok, o.Interactive), fmt.Sprintf("%d of %d", o.Interactive, o.Interactive), ok == o.Interactive)

	displaced := sentBack.displacedJobs()
	whole, twice, words, output := 0, 0, 0, 0
	for id, n := range displaced {
		if n > 1 {
			twice++
		}
		res, j, err := c.Get(ctx, bulkUser.Token, id)
		if err != nil || res.Status != http.StatusOK {
			return nil, fmt.Errorf("GET /jobs/%s: %d %v", id, res.Status, err)
		}
		n := len(strings.Fields(j.GeneratedText))
		words, output = words+n, output+j.Tokens.Output
		if j.Status == string(jobs.StatusSucceeded) && strings.HasSuffix(j.GeneratedText, "\n\n"+answer) &&
			strings.Count(j.GeneratedText, localmodel.Banner) == 1 && strings.Count(j.GeneratedText, " w001 ") == 1 && j.Tokens.Output == n {
			whole++
		}
	}
	rep.figure("bulk jobs displaced", strconv.Itoa(len(displaced)), "≥ 1", len(displaced) >= 1)
	rep.figure("displaced more than once", strconv.Itoa(twice), "0", twice == 0)
	rep.figure("displaced jobs whole, output tokens = words", fmt.Sprintf("%d of %d (%d words, %d output tokens)", whole, len(displaced), words, output),
		fmt.Sprintf("%d of %d", len(displaced), len(displaced)), whole == len(displaced))
	first, last := calls.Ran()
	mean, most := calls.AtOnce(first, last)
	rep.show("capacity used while the backlog lasted", fmt.Sprintf("%.1f%% (%.2f of %d at once)", 100*mean/float64(q.Concurrency), mean, q.Concurrency))
	rep.figure("most calls at once", strconv.Itoa(most), fmt.Sprintf("≤ %d", q.Concurrency), most <= q.Concurrency)
	refused := calls.Outcomes()[string(jobs.KindRateLimited)]
	rep.figure("calls the model refused (over its limit)", strconv.Itoa(refused), "0", refused == 0)
	total := o.BulkJobs + o.Interactive
	rep.show("messages sent back, per job", fmt.Sprintf("%.2f (%d)", float64(sentBack.all())/float64(total), sentBack.all()))
	return rep, finalChecks(ctx, st, rep, append(byOwner[bulkUser.Sub], mine...))
}

// echoAnswer is an answer of n words, w000 w001 ..., for the local model
// to echo (promptq-echo): a text whose every word can be checked.
func echoAnswer(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("w%03d", i)
	}
	return strings.Join(words, " ")
}
