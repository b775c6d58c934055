package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// seatConfig is testConfig with a model of 4 seats: 0 and 1 the bulk
// lane's own, 2 and 3 the interactive lane's reserve.
func seatConfig() Config {
	c := testConfig()
	c.Quota = quota.Quota{Concurrency: 4, InteractiveShare: 0.25}
	return c
}

// setupSeats is a worker over fakes whose model has 4 seats, kept in
// memory on the test's clock.
func setupSeats(t *testing.T) (*bundle, *inmem.Capacity) {
	t.Helper()
	b := setup(t, seatConfig())
	c := inmem.NewCapacity(b.clock.Now)
	b.w.capacity = c
	return b, c
}

// seatFor has another job of lane take seat i of the model m, started at
// the clock's now.
func seatFor(t *testing.T, b *bundle, c *inmem.Capacity, i int, job string, lane jobs.Lane) {
	t.Helper()
	seats, _ := c.Seats(t.Context(), "m", 4)
	now := b.clock.Now()
	if err := c.Take(t.Context(), "m", seats[i], quota.Holder{Job: job, Owner: "other", Lane: lane,
		Until: now.Add(time.Hour), Since: now, Lent: seatConfig().Quota.Lends(i, lane)}); err != nil {
		t.Fatal(err)
	}
}

func seatOf(t *testing.T, c *inmem.Capacity, i int) quota.Seat {
	t.Helper()
	seats, _ := c.Seats(t.Context(), "m", 4)
	return seats[i]
}

// writingModel writes words, one at a time as the test sends them, and
// when its call is stopped returns what it wrote, as a model cut short
// does: the words streamed are the output tokens.
func writingModel(b *bundle) (words chan string, calls chan jobs.Request) {
	words, calls = make(chan string), make(chan jobs.Request, 4)
	b.model.GenerateFunc = func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		calls <- req
		var all []string
		for {
			select {
			case w, ok := <-words:
				if !ok {
					return jobs.Progress{GeneratedText: strings.Join(all, ""), StopReason: "end_turn",
						Tokens: jobs.Tokens{Input: 5, Output: len(all)}}, nil
				}
				onDelta(w)
				all = append(all, w)
			case <-ctx.Done():
				return jobs.Progress{GeneratedText: strings.Join(all, ""), Tokens: jobs.Tokens{Input: 5, Output: len(all)}}, ctx.Err()
			}
		}
	}
	return words, calls
}

// A bulk job on a seat of the interactive lane's reserve, asked for it by
// an interactive job, stops at its next flush: every word it wrote is kept
// (a bulk job's text is otherwise held back), the seat is given back
// reserved for the interactive job, and the job goes back to its queue at
// once, marked displaced, without using a receive.
func TestABulkJobLentASeatGivesItBackAtItsNextFlush(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	for i := range 3 {
		seatFor(t, b, c, i, fmt.Sprint("b", i), jobs.LaneBulk)
	}
	b.clock.Advance(time.Second)
	job := newJob(1)
	job.Lane = jobs.LaneBulk
	b.store.ClaimFunc = claimReturns(t, job)
	var mu sync.Mutex
	var saved []jobs.Progress
	b.store.SaveProgressFunc = func(_ context.Context, _, _ string, _ int, p jobs.Progress, _ time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		saved = append(saved, p)
		return nil
	}
	var releasedFor []time.Duration
	b.store.ReleaseFunc = func(_ context.Context, _, _ string, _ int, w jobs.Wait) error {
		if w.Reason != jobs.WaitContinuing {
			t.Errorf("released waiting for %q, want continuing", w.Reason)
		}
		releasedFor = append(releasedFor, w.After)
		return nil
	}
	words, calls := writingModel(b)
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
		done <- resp
	}()
	<-calls
	if s := seatOf(t, c, 3); s.Job != job.ID || !s.Lent {
		t.Fatalf("the job runs on %+v, want seat 3, lent", s)
	}
	words <- "Seats "
	words <- "are "

	// An interactive job finds every seat busy and asks for the lent seat
	// taken last.
	choice := seatConfig().Quota.Choose(seatsOf(t, c), quota.Asker{Job: "interactive-job", Owner: "p", Lane: jobs.LaneInteractive}, b.clock.Now())
	if choice.Action != quota.AskBack || choice.Seat.Index != 3 {
		t.Fatalf("the interactive job can %s seat %d, want to ask back seat 3", choice.Action, choice.Seat.Index)
	}
	if err := c.AskBack(t.Context(), "m", choice.Seat, "interactive-job"); err != nil {
		t.Fatal(err)
	}
	words <- "shared."
	b.clock.Tick(t.Context())
	resp := <-done

	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported failed: %v; yielding must use no receive", resp.BatchItemFailures)
	}
	mu.Lock()
	defer mu.Unlock()
	// Not written at the flush (a bulk job nobody watches holds its text
	// back), and all of it written when the call stopped.
	if len(saved) != 1 || saved[0].GeneratedText != "Seats are shared." || saved[0].Tokens.Output != 3 {
		t.Fatalf("saved %+v, want every word written once the call stopped, and its 3 output tokens", saved)
	}
	if !slices.Equal(releasedFor, []time.Duration{time.Second}) {
		t.Errorf("released to come back after %v, want at once (1s)", releasedFor)
	}
	sent := b.queue.sentAgain()
	if len(sent) != 1 || sent[0].msg.JobID != job.ID || sent[0].msg.Displaced != 1 || sent[0].msg.Lane != jobs.LaneBulk || sent[0].delay != time.Second {
		t.Fatalf("sent %+v, want the job's message once more, displaced once, after 1s", sent)
	}
	// The next call continues the text: its worst case counts what is left.
	if want := (jobs.Job{Prompt: job.Prompt, System: job.System, Model: job.Model, MaxTokens: job.MaxTokens,
		GeneratedText: "Seats are shared.", Tokens: jobs.Tokens{Input: 5, Output: 3}}).NextRequest().TokenBudget(); sent[0].msg.Tokens != want {
		t.Errorf("the message's tokens %d, want the continuation's worst case %d", sent[0].msg.Tokens, want)
	}
	if s := seatOf(t, c, 3); s.Held(b.clock.Now()) || s.For != "interactive-job" || !s.ReservedUntil.After(b.clock.Now()) {
		t.Errorf("seat 3 is %+v, want given back, reserved for the interactive job", s)
	}
	if got := seatConfig().Quota.Choose(seatsOf(t, c), quota.Asker{Job: "interactive-job", Owner: "p", Lane: jobs.LaneInteractive}, b.clock.Now()); got.Action != quota.Take || got.Seat.Index != 3 {
		t.Errorf("the interactive job can then %s seat %d, want to take seat 3", got.Action, got.Seat.Index)
	}
}

func seatsOf(t *testing.T, c *inmem.Capacity) []quota.Seat {
	t.Helper()
	s, _ := c.Seats(t.Context(), "m", 4)
	return s
}

// A job whose seat is not lent (or an interactive job's) is never stopped:
// its flusher does not even read the seat.
func TestAJobOnASeatOfItsOwnIsNeverAskedBack(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	job := newJob(1)
	job.Lane = jobs.LaneBulk
	b.store.ClaimFunc = claimReturns(t, job)
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	b.store.SaveProgressFunc = func(context.Context, string, string, int, jobs.Progress, time.Duration) error { return nil }
	words, calls := writingModel(b)
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
		done <- resp
	}()
	<-calls
	s := seatOf(t, c, 0)
	if s.Job != job.ID { // either of the lane's own, as the job's id spreads it
		s = seatOf(t, c, 1)
	}
	if s.Job != job.ID || s.Lent {
		t.Fatalf("the job runs on %+v, want seat 0 or 1, its lane's own", s)
	}
	// Even were it asked (by a rule gone wrong), it would not look.
	if err := c.AskBack(t.Context(), "m", s, "interactive-job"); err != nil {
		t.Fatal(err)
	}
	words <- "Mine."
	b.clock.Tick(t.Context())
	close(words)
	<-done
	if sent := b.queue.sentAgain(); len(sent) != 0 {
		t.Errorf("sent %+v: a job on its lane's own seat was displaced", sent)
	}
	if s := seatOf(t, c, s.Index); s.Held(b.clock.Now()) {
		t.Errorf("seat %d still held after the job ended: %+v", s.Index, s)
	}
}

// Every seat held by a bulk backlog, an interactive job asks the lent
// seat taken last back and waits in place; once its holder gives it back,
// the interactive job takes it and runs.
func TestAnInteractiveJobAsksALentSeatBackAndRunsOnIt(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	for i := range 4 {
		seatFor(t, b, c, i, fmt.Sprint("b", i), jobs.LaneBulk)
		b.clock.Advance(time.Second)
	}
	// The holder of seat 3 sees the ask at its next flush, while the
	// interactive job waits.
	var sleeps []time.Duration
	b.w.sleep = func(ctx context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		if s := seatOf(t, c, 3); s.AskedBack && s.For != "" {
			if err := c.Release(ctx, "m", 3, "b3"); err != nil {
				t.Error(err)
			}
		}
		b.clock.Advance(d)
		return ctx.Err()
	}
	job := newJob(1)
	b.store.ClaimFunc = claimReturns(t, job)
	var ranOn quota.Seat
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		ranOn = seatOf(t, c, 3)
		return jobs.Progress{GeneratedText: "Hi.", StopReason: "end_turn"}, nil
	}
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if len(resp.BatchItemFailures) != 0 || len(b.queue.sentAgain()) != 0 {
		t.Fatalf("failures %v, sent %v; want the job run", resp.BatchItemFailures, b.queue.sentAgain())
	}
	if ranOn.Job != job.ID || ranOn.Lent {
		t.Errorf("the interactive job ran with seat 3 as %+v, want it its own", ranOn)
	}
	if !slices.Equal(sleeps, []time.Duration{seatPollInteractive}) {
		t.Errorf("waited %v, want one poll while the holder gave the seat back", sleeps)
	}
	for i, s := range seatsOf(t, c) {
		if want := i < 3; s.Held(b.clock.Now()) != want {
			t.Errorf("after the job, seat %d is %+v", i, s)
		}
	}
}

// An interactive job whose asked-for seat is not given back in time (its
// holder's worker is slow, or died) goes back to its queue, to come back
// within the seat's reservation; the seat, given back meanwhile, waits for
// it.
func TestAnInteractiveJobThatWaitedTooLongComesBackToTheSeatKeptForIt(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	for i := range 4 {
		seatFor(t, b, c, i, fmt.Sprint("b", i), jobs.LaneBulk)
		b.clock.Advance(time.Second)
	}
	job := newJob(1) // no Claim: the job is not claimed
	start := b.clock.Now()
	resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("reported failed: %v", resp.BatchItemFailures)
	}
	if waited := b.clock.Now().Sub(start); waited > seatWaitMax {
		t.Errorf("waited %v in place, want at most %v", waited, seatWaitMax)
	}
	sent := b.queue.sentAgain()
	if len(sent) != 1 || sent[0].delay != time.Second {
		t.Fatalf("sent %+v, want the job back after 1s", sent)
	}
	if s := seatOf(t, c, 3); !s.AskedBack || s.For != job.ID {
		t.Fatalf("seat 3 is %+v, want asked back for the job", s)
	}
	// Its holder gives it back; a bulk job cannot take it; the job's
	// message comes back and runs on it.
	if err := c.Release(t.Context(), "m", 3, "b3"); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Second)
	if got := seatConfig().Quota.Choose(seatsOf(t, c), quota.Asker{Job: "bulk", Owner: "p", Lane: jobs.LaneBulk}, b.clock.Now()); got.Action != quota.Wait {
		t.Errorf("a bulk job can %s seat %d, reserved for the interactive job", got.Action, got.Seat.Index)
	}
	b.store.ClaimFunc = claimReturns(t, job)
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	var ranOn quota.Seat
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		ranOn = seatOf(t, c, 3)
		return jobs.Progress{GeneratedText: "Hi.", StopReason: "end_turn"}, nil
	}
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if ranOn.Job != job.ID {
		t.Errorf("the job came back and ran with seat 3 as %+v, want its", ranOn)
	}
}

// With every seat busy and none to ask back, a job waits in place for one
// to free, then goes back to its queue, counted again in its lane; it was
// never claimed. A displaced bulk job finds no seat on the interactive
// lane's reserve, free or not.
func TestAJobWithNoSeatWaitsInPlaceThenGoesBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		lane      jobs.Lane
		displaced int
		held      []jobs.Lane // the seats' holders' lanes, "" for free
	}{
		{"bulk, every seat busy", jobs.LaneBulk, 0, []jobs.Lane{jobs.LaneBulk, jobs.LaneBulk, jobs.LaneInteractive, jobs.LaneInteractive}},
		{"interactive, none lent", jobs.LaneInteractive, 0, []jobs.Lane{jobs.LaneBulk, jobs.LaneBulk, jobs.LaneInteractive, jobs.LaneInteractive}},
		{"displaced, only the reserve free", jobs.LaneBulk, 1, []jobs.Lane{jobs.LaneBulk, jobs.LaneBulk, "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, c := setupSeats(t)
			sh := &fakeShares{share: 4}
			b.w.shares = sh
			for i, lane := range tc.held {
				if lane != "" {
					seatFor(t, b, c, i, fmt.Sprint("h", i), lane)
				}
			}
			job := newJob(1)              // no Claim: the job is not claimed
			var reasons []jobs.WaitReason // Handle is synchronous: no lock
			b.store.SentBackFunc = func(_ context.Context, _, _ string, w jobs.Wait) error {
				reasons = append(reasons, w.Reason)
				return nil
			}
			m := laneMessage(job, 1, tc.lane)
			if tc.displaced > 0 {
				m.Body = strings.TrimSuffix(m.Body, "}") + fmt.Sprintf(`,"displaced":%d}`, tc.displaced)
			}
			start := b.clock.Now()
			resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{m}})
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("reported failed: %v", resp.BatchItemFailures)
			}
			if waited := b.clock.Now().Sub(start); waited == 0 || waited > seatWaitMax {
				t.Errorf("waited %v in place, want up to %v", waited, seatWaitMax)
			}
			sent := b.queue.sentAgain()
			if len(sent) != 1 || sent[0].msg.JobID != job.ID || sent[0].msg.Displaced != tc.displaced || sent[0].delay < fairRetryMin {
				t.Fatalf("sent %+v, want the job back later, displaced %d times", sent, tc.displaced)
			}
			if !slices.Equal(reasons, []jobs.WaitReason{jobs.WaitBusy}) {
				t.Errorf("recorded the job waiting for %q, want [busy]", reasons)
			}
			if want := string(tc.lane) + "/" + job.Owner + "/1"; !slices.Equal(sh.waiting, []string{want}) || len(sh.held) != 0 {
				t.Errorf("told the shares %v, still held %v; want [%s] and its slot given back", sh.waiting, sh.held, want)
			}
			for i, s := range seatsOf(t, c) {
				if s.Job == job.ID {
					t.Errorf("seat %d held by the job sent back: %+v", i, s)
				}
			}
		})
	}
}

// A displaced job whose answer then runs into the Lambda deadline, or is
// throttled, keeps its mark: it goes on displaced, never to be displaced
// again.
func TestADisplacedJobStaysDisplaced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		model func(ctx context.Context, onDelta func(string)) (jobs.Progress, error)
	}{
		{"deadline", func(ctx context.Context, onDelta func(string)) (jobs.Progress, error) {
			onDelta("Half ")
			<-ctx.Done()
			return jobs.Progress{GeneratedText: "Half ", Tokens: jobs.Tokens{Output: 1}}, ctx.Err()
		}},
		{"throttle", func(context.Context, func(string)) (jobs.Progress, error) {
			return jobs.Progress{}, &jobs.Error{Kind: jobs.KindRateLimited, Message: "Busy."}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, c := setupSeats(t)
			b.w.now = time.Now // the deadline is the context's, on the real clock
			job := newJob(1)
			job.Lane = jobs.LaneBulk
			b.store.ClaimFunc = claimReturns(t, job)
			b.store.SaveProgressFunc = func(context.Context, string, string, int, jobs.Progress, time.Duration) error { return nil }
			b.store.ReleaseFunc = func(context.Context, string, string, int, jobs.Wait) error { return nil }
			b.model.GenerateFunc = func(ctx context.Context, _ jobs.Request, onDelta func(string)) (jobs.Progress, error) {
				return tc.model(ctx, onDelta)
			}
			m := laneMessage(job, 1, jobs.LaneBulk)
			m.Body = strings.TrimSuffix(m.Body, "}") + `,"displaced":1}`
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			b.w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{m}})
			sent := b.queue.sentAgain()
			if len(sent) != 1 || sent[0].msg.Displaced != 1 {
				t.Fatalf("sent %+v, want the job's message again, displaced once", sent)
			}
			if s := seatsOf(t, c); s[0].Held(time.Now()) {
				t.Errorf("seat 0 still held: %+v", s[0])
			}
		})
	}
}

// The seat frees as soon as the model call ends, before the result is
// written: it counts generations at once.
func TestASeatIsGivenBackWhenTheCallEnds(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	job := newJob(1)
	b.store.ClaimFunc = claimReturns(t, job)
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		return jobs.Progress{GeneratedText: "Done.", StopReason: "end_turn"}, nil
	}
	var heldAtFinish []int
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error {
		for i, s := range seatsOf(t, c) {
			if s.Held(b.clock.Now()) {
				heldAtFinish = append(heldAtFinish, i)
			}
		}
		return nil
	}
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if len(heldAtFinish) != 0 {
		t.Errorf("seats %v held while the result was written, want none", heldAtFinish)
	}
}

// The bulk lane's fair shares are of every seat the interactive lane is
// not using; the interactive lane's of its share.
func TestTheBulkLanesFairShareIsOfTheSeatsTheInteractiveLaneLeaves(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	sh := &fakeShares{share: 0} // refuses: only the capacity asked matters
	b.w.shares = sh
	for i := range 3 { // no seat free for a job past its share to borrow
		seatFor(t, b, c, i, fmt.Sprint("b", i), jobs.LaneBulk)
	}
	seatFor(t, b, c, 3, "i1", jobs.LaneInteractive)
	for _, lane := range []jobs.Lane{jobs.LaneBulk, jobs.LaneInteractive} {
		b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(newJob(1), 1, lane)}})
	}
	if !slices.Equal(sh.caps, []int{3, 2}) {
		t.Errorf("fair shares asked of %v, want [3 2]: the 4 seats less the interactive job's, and the interactive lane's share", sh.caps)
	}
}

// A copy of a job's message that arrives while the job holds a seat (its
// worker runs it) leaves the seat to that worker; a message that then
// claims the job (the worker holding it died) takes the seat over, renews
// it as its own lease and gives it back at the end.
func TestASeatHeldForAnotherMessageIsTakenOverOnlyByAClaim(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	job := newJob(2)
	seatFor(t, b, c, 1, job.ID, jobs.LaneInteractive) // the other worker's, for an hour
	b.store.ClaimFunc = func(context.Context, string, string, time.Duration) (jobs.Job, error) {
		return jobs.Job{Status: jobs.StatusRunning, Attempts: 1, LeaseUntil: b.clock.Now().Add(45 * time.Second)}, jobs.ErrConflict
	}
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if s := seatOf(t, c, 1); s.Job != job.ID || !s.Until.Equal(b.clock.Now().Add(time.Hour)) {
		t.Fatalf("after a copy that could not claim the job, seat 1 is %+v; want the other worker's, as it was", s)
	}
	for i, s := range seatsOf(t, c) {
		if i != 1 && s.Held(b.clock.Now()) {
			t.Errorf("the copy took seat %d too", i)
		}
	}

	b.store.ClaimFunc = claimReturns(t, job)
	var during quota.Seat
	b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		during = seatOf(t, c, 1)
		return jobs.Progress{GeneratedText: "hi", StopReason: "end_turn"}, nil
	}
	b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneInteractive)}})
	if want := b.clock.Now().Add(time.Minute); during.Job != job.ID || !during.Until.Equal(want) {
		t.Errorf("while the claiming message ran, seat 1 was %+v; want its lease renewed to %v", during, want)
	}
	if s := seatOf(t, c, 1); s.Held(b.clock.Now()) {
		t.Errorf("seat 1 still held after the job ended: %+v", s)
	}
}

// A bulk job whose owner runs their fair share already borrows a free
// seat rather than leave it idle: lent, past its owner's share, its
// message taken off the owner's count of messages waiting. When a bulk
// job of another owner, within its share, finds every seat busy, it asks
// that seat back; the borrower stops at its next flush, keeps every word,
// and goes back to its queue displaced, never to borrow again.
func TestABulkJobPastItsOwnersShareBorrowsAFreeSeatAndGivesItBack(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	sh := &fakeShares{share: 0} // the owner runs their share already
	b.w.shares = sh
	for i := range 3 {
		seatFor(t, b, c, i, fmt.Sprint("b", i), jobs.LaneBulk)
	}
	b.clock.Advance(time.Second)
	job := newJob(1)
	job.Lane = jobs.LaneBulk
	b.store.ClaimFunc = claimReturns(t, job)
	b.store.SaveProgressFunc = func(context.Context, string, string, int, jobs.Progress, time.Duration) error { return nil }
	b.store.ReleaseFunc = func(context.Context, string, string, int, jobs.Wait) error { return nil }
	words, calls := writingModel(b)
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
		done <- resp
	}()
	<-calls
	if s := seatOf(t, c, 3); s.Job != job.ID || !s.Lent || !s.PastShare {
		t.Fatalf("the job runs on %+v, want seat 3, borrowed past its owner's share", s)
	}
	sh.mu.Lock()
	if !slices.Equal(sh.received, []string{"bulk/" + owner}) || len(sh.waiting) != 0 {
		t.Errorf("counted received %v, waiting %v; want its message received once, nothing waiting", sh.received, sh.waiting)
	}
	sh.mu.Unlock()
	words <- "Borrowed "

	// The job's own owner may not ask it back; another, within its share, may.
	q := seatConfig().Quota
	if got := q.Choose(seatsOf(t, c), quota.Asker{Job: "mine", Owner: owner, Lane: jobs.LaneBulk}, b.clock.Now()); got.Action != quota.Wait {
		t.Errorf("a job of the same owner can %s seat %d, want to wait", got.Action, got.Seat.Index)
	}
	choice := q.Choose(seatsOf(t, c), quota.Asker{Job: "within", Owner: "someone-else", Lane: jobs.LaneBulk}, b.clock.Now())
	if choice.Action != quota.AskBack || choice.Seat.Index != 3 {
		t.Fatalf("a bulk job within its share can %s seat %d, want to ask back seat 3", choice.Action, choice.Seat.Index)
	}
	if err := c.AskBack(t.Context(), "m", choice.Seat, "within"); err != nil {
		t.Fatal(err)
	}
	words <- "seat."
	b.clock.Tick(t.Context())
	if resp := <-done; len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported failed: %v; giving a seat back must use no receive", resp.BatchItemFailures)
	}
	sent := b.queue.sentAgain()
	if len(sent) != 1 || sent[0].msg.Displaced != 1 || sent[0].delay != time.Second {
		t.Fatalf("sent %+v, want the job's message once more, displaced once, after 1s", sent)
	}
	if s := seatOf(t, c, 3); s.Held(b.clock.Now()) || s.For != "within" {
		t.Errorf("seat 3 is %+v, want given back, reserved for the job that asked", s)
	}

	// Displaced, past its share, with a seat free: it does not borrow.
	b.clock.Advance(quota.SeatReserve)
	m := laneMessage(job, 1, jobs.LaneBulk)
	m.Body = strings.TrimSuffix(m.Body, "}") + `,"displaced":1}`
	b.store.ClaimFunc = nil
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{m}})
	if s := seatOf(t, c, 3); s.Held(b.clock.Now()) {
		t.Errorf("displaced, past its share, the job took seat 3: %+v", s)
	}
	if again := b.queue.sentAgain(); len(again) != 2 || again[1].msg.Displaced != 1 {
		t.Errorf("sent %+v, want the displaced job sent back to wait for its share", again)
	}
}

// A job past its owner's share that finds no seat free goes back at once,
// waiting in place for none (the seats are for jobs within their shares
// first), still counted in its lane as its message was never taken off.
func TestABulkJobPastItsShareWithNoSeatFreeGoesBackAtOnce(t *testing.T) {
	t.Parallel()
	b, c := setupSeats(t)
	sh := &fakeShares{share: 0}
	b.w.shares = sh
	for i := range 4 {
		seatFor(t, b, c, i, fmt.Sprint("b", i), jobs.LaneBulk)
	}
	var slept []time.Duration
	b.w.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	var reasons []jobs.WaitReason
	b.store.SentBackFunc = func(_ context.Context, _, _ string, w jobs.Wait) error {
		reasons = append(reasons, w.Reason)
		return nil
	}
	job := newJob(1) // no Claim: the job is not claimed
	b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
	if len(slept) != 0 {
		t.Errorf("waited in place %v, want none", slept)
	}
	if sent := b.queue.sentAgain(); len(sent) != 1 || !slices.Equal(reasons, []jobs.WaitReason{jobs.WaitFairShare}) {
		t.Errorf("sent %+v waiting for %v, want its message back once, for its fair share", sent, reasons)
	}
	if len(sh.waiting) != 0 || len(sh.received) != 0 {
		t.Errorf("counted waiting %v, received %v; want its count left as it was", sh.waiting, sh.received)
	}
}

// While a newcomer to the lane (messages waiting, none received lately)
// holds no seat, its messages waiting behind a backlog, a job past its
// owner's share does not borrow a free seat: it goes back at once, so the
// workers get through the backlog to the newcomer's messages. Once the
// newcomer holds a seat, the backlog borrows again.
func TestABacklogDoesNotBorrowWhileANewcomerWaitsWithNoSeat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		newcomer  bool // the other owner holds a seat
		wantTaken bool
	}{
		{"the newcomer holds no seat", false, false},
		{"the newcomer holds one", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, c := setupSeats(t)
			sh := &fakeShares{share: 0, users: 2, newcomers: map[string]bool{"newcomer": true}}
			b.w.shares = sh
			if tc.newcomer {
				seats, _ := c.Seats(t.Context(), "m", 4)
				now := b.clock.Now()
				if err := c.Take(t.Context(), "m", seats[0], quota.Holder{Job: "n0", Owner: "newcomer", Lane: jobs.LaneBulk,
					Until: now.Add(time.Hour), Since: now}); err != nil {
					t.Fatal(err)
				}
			}
			job := newJob(1)
			job.Lane = jobs.LaneBulk
			b.store.ClaimFunc = claimReturns(t, job)
			b.store.FinishFunc = func(context.Context, string, string, int, jobs.Progress) error { return nil }
			var during []quota.Seat
			b.model.GenerateFunc = func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
				during = seatsOf(t, c)
				return jobs.Progress{GeneratedText: "hi", StopReason: "end_turn"}, nil
			}
			b.w.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{laneMessage(job, 1, jobs.LaneBulk)}})
			if ran := during != nil; ran != tc.wantTaken {
				t.Fatalf("the job ran: %v, want %v (sent back %+v)", ran, tc.wantTaken, b.queue.sentAgain())
			}
			if !tc.wantTaken {
				if sent := b.queue.sentAgain(); len(sent) != 1 {
					t.Errorf("sent %+v, want the job's message back once", sent)
				}
				return
			}
			borrowed := false
			for _, s := range during {
				borrowed = borrowed || s.Job == job.ID && s.PastShare
			}
			if !borrowed {
				t.Errorf("the seats while it ran %+v, want one borrowed past its owner's share", during)
			}
		})
	}
}
