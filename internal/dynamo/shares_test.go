package dynamo_test

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dev/storetest"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/awscount"
	"github.com/promptq/promptq/internal/quota"
)

func TestSharesHoldEachUserToTheirFairShare(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	until := clock.Now().Add(5 * time.Minute)
	heldBy := map[string]bool{}
	acquire := func(owner, job string) bool {
		t.Helper()
		slot, err := s.Acquire(ctx, jobs.LaneBulk, owner, job, 6, until)
		if err != nil {
			t.Fatalf("Acquire(%s, %s): %v", owner, job, err)
		}
		if slot == quota.SlotTaken {
			heldBy[job] = true
		}
		return slot.Admitted()
	}

	// Alone in the lane, alice may use all of it, and nothing is written
	// for it: the lane's concurrency already holds her to it.
	if !acquire("alice", "solo") || heldBy["solo"] {
		t.Fatal("alice alone in the lane: refused, or counted in a slot")
	}
	if n, _ := s.Running(ctx, jobs.LaneBulk, "alice"); n != 0 {
		t.Errorf("alice alone holds %d slots, want none written", n)
	}

	// carol arrives: with two users each may run 3 of 6, counted in slots.
	if err := s.Waiting(ctx, jobs.LaneBulk, "carol", 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second) // past the cached count of users
	for i := range 3 {
		if !acquire("alice", "a"+string(rune('0'+i))) || !heldBy["a"+string(rune('0'+i))] {
			t.Fatalf("alice's job %d refused or not counted with one other user", i)
		}
	}
	if acquire("alice", "a3") {
		t.Error("alice got a fourth slot while her share is 3")
	}
	if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "a0", 6, until); err != nil || slot != quota.SlotHeld {
		t.Errorf("a job that holds a slot (a redelivered message): %v, %v; want admitted in the slot it holds", slot, err)
	}

	// bob arrives too: the API says he has work waiting. Once the cached
	// count of users is renewed, alice's share is 2: her next jobs wait
	// until she runs fewer, and bob's run.
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 3); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if err := s.Release(ctx, jobs.LaneBulk, "alice", "a0"); err != nil {
		t.Fatal(err)
	}
	if acquire("alice", "a7") {
		t.Error("alice, at 2 slots with bob and carol waiting, got a third")
	}
	for i := range 2 {
		if !acquire("bob", "b"+string(rune('0'+i))) {
			t.Fatalf("bob's job %d refused; he holds %d of his share of 2", i, i)
		}
	}
	if acquire("bob", "b2") {
		t.Error("bob got more than his share of 2")
	}
	if n, _ := s.Running(ctx, jobs.LaneBulk, "alice"); n != 2 {
		t.Errorf("alice runs %d, want 2", n)
	}

	// The lanes are apart: alice's bulk slots do not count in the
	// interactive lane.
	if slot, err := s.Acquire(ctx, jobs.LaneInteractive, "alice", "i0", 2, until); err != nil || !slot.Admitted() {
		t.Errorf("interactive slot for alice: %v, %v", slot, err)
	}

	// A slot whose holder died lapses at its deadline; a user not seen for
	// 20 seconds and running nothing no longer counts.
	clock.Advance(6 * time.Minute)
	if n, _ := s.Running(ctx, jobs.LaneBulk, "bob"); n != 0 {
		t.Errorf("bob's slots did not lapse: %d", n)
	}
	for i := range 6 {
		if !acquire("alice", "late"+string(rune('0'+i))) {
			t.Fatalf("alice's job %d refused once bob and carol had gone", i)
		}
	}
}

// A copy of a job's message (a replay's, a rescue's, SQS's at-least-once
// delivery) that arrives while the job holds a slot is admitted but leaves
// the slot to its holder: it neither extends it nor takes it as its own
// (the worker then gives back only a slot it took). Only a worker that
// claims the job takes the slot over, with Renew.
func TestACopyOfAJobsMessageLeavesItsSlotToItsHolder(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 1); err != nil { // alice is not alone
		t.Fatal(err)
	}
	lease := time.Minute
	if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "j", 2, clock.Now().Add(lease)); err != nil || slot != quota.SlotTaken {
		t.Fatalf("first message: %v, %v; want a slot taken", slot, err)
	}
	// alice is at her share of 1 of 2: the copy is admitted all the same.
	if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "j", 2, clock.Now().Add(10*lease)); err != nil || slot != quota.SlotHeld {
		t.Fatalf("a copy while the job holds its slot: %v, %v; want admitted in the slot it holds", slot, err)
	}
	if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "other", 2, clock.Now().Add(lease)); err != nil || slot != quota.SlotRefused {
		t.Errorf("another job of alice at her share: %v, %v; want refused", slot, err)
	}
	clock.Advance(lease + time.Second)
	if n, err := s.Running(ctx, jobs.LaneBulk, "alice"); err != nil || n != 0 {
		t.Errorf("after the holder's lease alice runs %d (%v), want 0: the copy must not extend the slot", n, err)
	}
}

// A slot is a lease: renewed, it outlives its first one; left, it lapses
// and frees its owner's share without a Release.
func TestASlotRenewedOutlivesItsLeaseAndOneLeftLapses(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 1); err != nil { // alice is not alone
		t.Fatal(err)
	}
	lease := time.Minute
	for _, job := range []string{"kept", "left"} {
		if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", job, 4, clock.Now().Add(lease)); err != nil || slot != quota.SlotTaken {
			t.Fatalf("Acquire(%s) = %v, %v; want a slot taken", job, slot, err)
		}
	}
	clock.Advance(40 * time.Second)
	if err := s.Renew(ctx, jobs.LaneBulk, "alice", "kept", clock.Now().Add(lease)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(40 * time.Second) // past the first lease, within the renewed one
	if n, err := s.Running(ctx, jobs.LaneBulk, "alice"); err != nil || n != 1 {
		t.Errorf("alice runs %d (%v), want 1: the renewed slot, not the one left to lapse", n, err)
	}
	// A renewal after the slot lapsed counts the running job again.
	clock.Advance(2 * lease)
	if err := s.Renew(ctx, jobs.LaneBulk, "alice", "kept", clock.Now().Add(lease)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Running(ctx, jobs.LaneBulk, "alice"); err != nil || n != 1 {
		t.Errorf("alice runs %d (%v) after renewing a lapsed slot, want 1", n, err)
	}
}

func TestSharesTakeNoMoreThanTheShareUnderConcurrency(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	s := dynamo.NewShares(k.DynamoDB, table, nil)
	until := time.Now().Add(time.Minute)
	var mu sync.Mutex
	got := 0
	var wg sync.WaitGroup
	// Two users: each may run 2 of 4, counted in slots.
	if err := s.Waiting(t.Context(), jobs.LaneBulk, "dave", 1); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		wg.Go(func() {
			slot, err := s.Acquire(t.Context(), jobs.LaneBulk, "carol", jobs.NewID(), 4, until)
			if err != nil {
				t.Errorf("Acquire %d: %v", i, err)
				return
			}
			if slot.Admitted() {
				mu.Lock()
				got++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got != 2 {
		t.Errorf("20 concurrent acquires got %d slots of a share of 2", got)
	}
}

func TestPacerKeepsTokensWithinTheQuota(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	p := dynamo.NewPacer(k.DynamoDB, table, 60_000, clock.Now) // 900/s, holds 6,000, bulk leaves 3,000
	ctx := t.Context()
	take := func(lane jobs.Lane, n int) time.Duration {
		t.Helper()
		wait, err := p.Take(ctx, "model-a", lane, n)
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	if w := take(jobs.LaneBulk, 3000); w != 0 {
		t.Fatalf("first bulk take from a full bucket waits %v", w)
	}
	if w := take(jobs.LaneBulk, 100); w <= 0 {
		t.Errorf("bulk took below the interactive reserve")
	}
	if w := take(jobs.LaneInteractive, 2500); w != 0 {
		t.Errorf("interactive take within the bucket waits %v", w)
	}
	if w := take("", 600); w < 100*time.Millisecond || w > 120*time.Millisecond {
		t.Errorf("take of 600 from 500 tokens waits %v, want 100 tokens' refill, about 0.11 s", w)
	}
	// Models have their own buckets.
	if w, err := p.Take(ctx, "model-b", jobs.LaneBulk, 3000); err != nil || w != 0 {
		t.Errorf("another model's bucket: %v, %v", w, err)
	}
	// A refund comes back at once; a throttle empties the bucket for ten
	// seconds of refill.
	if err := p.Give(ctx, "model-a", 2500); err != nil {
		t.Fatal(err)
	}
	if l, _ := p.Level(ctx, "model-a"); l.Tokens != 3000 {
		t.Errorf("after giving 2,500 back the bucket holds %v, want 3,000", l.Tokens)
	}
	if err := p.Throttled(ctx, "model-a"); err != nil {
		t.Fatal(err)
	}
	if w := take(jobs.LaneInteractive, 1); w < 6*time.Second {
		t.Errorf("after a throttle a take waits %v, want the penalty's 10 s of refill less the 3,000 held", w)
	}
	clock.Advance(10 * time.Second)
	if w := take(jobs.LaneInteractive, 1); w != 0 {
		t.Errorf("10 s after a throttle a take waits %v", w)
	}
}

func TestPacerUnderConcurrencyTakesNoMoreThanTheBucket(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	p := dynamo.NewPacer(k.DynamoDB, table, 60_000, clock.Now)
	var mu sync.Mutex
	taken := 0
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			w, err := p.Take(t.Context(), "m", jobs.LaneInteractive, 1000)
			if err != nil {
				t.Error(err)
				return
			}
			if w == 0 {
				mu.Lock()
				taken += 1000
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != 6000 {
		t.Errorf("30 concurrent takes of 1,000 from a bucket of 6,000 took %d", taken)
	}
}

// A user with messages waiting in the lane counts in its shares however
// long they wait (on a first-in-first-out queue, behind a whole backlog),
// and stops counting once workers have received them all and nothing more
// of theirs comes.
func TestSharesCountAUserWhileTheirMessagesWait(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	until := clock.Now().Add(10 * time.Minute)
	n := 0
	alice := func() bool {
		t.Helper()
		n++
		slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "a"+strconv.Itoa(n), 4, until)
		if err != nil {
			t.Fatal(err)
		}
		return slot.Admitted()
	}
	bob := func(job string) {
		t.Helper()
		slot, err := s.Acquire(ctx, jobs.LaneBulk, "bob", job, 4, until)
		if err != nil || !slot.Admitted() {
			t.Fatalf("bob's job %s: %v, %v", job, slot, err)
		}
		if err := s.Release(ctx, jobs.LaneBulk, "bob", job); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // far past the window of a worker's sighting
	if got := []bool{alice(), alice(), alice()}; !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("with bob's jobs queued for 2 minutes, alice's jobs admitted %v; want her share of 2 of 4", got)
	}
	bob("b0")
	clock.Advance(25 * time.Second) // past the sighting of b0
	if alice() {
		t.Error("alice got a third slot while bob's second message still waits")
	}
	bob("b1")
	clock.Advance(25 * time.Second) // both received and ended, nothing more of bob's
	for i := range 2 {
		if !alice() {
			t.Fatalf("alice's job %d beyond half the lane refused: bob, with nothing waiting and gone for 25 s, still holds her to half the lane", i+1)
		}
	}
}

// A job refused for its owner's share stays counted as waiting (its
// caller sends it back); one admitted is taken off.
func TestSharesTakeOnlyAdmittedJobsOffTheCount(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	acquire := admits(t, s, 2, clock.Now().Add(10*time.Minute))
	for _, owner := range []string{"alice", "bob"} {
		if err := s.Waiting(ctx, jobs.LaneBulk, owner, 2); err != nil {
			t.Fatal(err)
		}
	}
	if !acquire("bob", "b0") || acquire("bob", "b1") {
		t.Fatal("bob's share of 1 of 2 not kept")
	}
	// b1 was refused and still waits: in a minute, with nothing seen of
	// bob, he still counts and alice's share is 1.
	clock.Advance(time.Minute)
	if !acquire("alice", "a0") || acquire("alice", "a1") {
		t.Error("alice got more than half the lane while bob's refused job waits")
	}
}

// newShares is Shares on a fresh table, with a test clock.
// admits asks s whether owner's job may run in the bulk lane of capacity,
// in a slot until until.
func admits(t *testing.T, s *dynamo.Shares, capacity int, until time.Time) func(owner, job string) bool {
	return func(owner, job string) bool {
		t.Helper()
		slot, err := s.Acquire(t.Context(), jobs.LaneBulk, owner, job, capacity, until)
		if err != nil {
			t.Fatal(err)
		}
		return slot.Admitted()
	}
}

func newShares(t *testing.T) (*dynamo.Shares, *storetest.Clock) {
	t.Helper()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC))
	return dynamo.NewShares(k.DynamoDB, table, clock.Now), clock
}

// Who has work in a lane is read once a second by every worker: the read
// must cost what the users of the last few minutes make, not every user
// whose items TTL (which takes up to days) has not deleted yet. A hundred
// users had work in the lane an hour ago; now alice and bob do: the
// workers' Query reads alice's and bob's items only.
func TestWhoHasWorkInALaneReadsOnlyItemsThatCanStillCount(t *testing.T) {
	t.Parallel()
	k, table := limitsTable(t)
	clock := storetest.NewClock(time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC))
	var queries, read atomic.Int64
	counter := awscount.New(func(c awscount.Call) {
		if out, ok := c.Output.(*dynamodb.QueryOutput); ok {
			queries.Add(1)
			read.Add(int64(out.ScannedCount))
		}
	})
	client := standin.DynamoDB(k.URL, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.Middleware) })
	s := dynamo.NewShares(client, table, clock.Now)
	ctx := t.Context()
	for i := range 100 {
		owner := "earlier-" + strconv.Itoa(i)
		if err := s.Waiting(ctx, jobs.LaneBulk, owner, 3); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second) // past the worker's cached read of the lane
		if slot, err := s.Acquire(ctx, jobs.LaneBulk, owner, "job", 4, clock.Now().Add(time.Minute)); err != nil || !slot.Admitted() {
			t.Fatalf("%s's job: %v, %v", owner, slot, err)
		}
	}

	clock.Advance(time.Hour)
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 1); err != nil {
		t.Fatal(err)
	}
	queries.Store(0)
	read.Store(0)
	for _, job := range []string{"a0", "a1"} {
		if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", job, 4, clock.Now().Add(time.Minute)); err != nil || !slot.Admitted() {
			t.Fatalf("alice's job %s: %v, %v", job, slot, err)
		}
	}
	if slot, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "a2", 4, clock.Now().Add(time.Minute)); err != nil || slot.Admitted() {
		t.Errorf("alice's third job with bob waiting: %v, %v; want her share of 2 of 4 kept", slot, err)
	}
	q, n := queries.Load(), read.Load()
	if q != 1 || n > 3 {
		t.Errorf("%d queries read %d items, want one reading bob's count and alice's sighting at most (3)", q, n)
	}
	t.Logf("%d queries read %d items", q, n)
}

// A message sent after a worker last read the lane is taken off its
// owner's count all the same when it is received: its owner, with nothing
// more waiting, stops counting once their sighting is over, and the
// others get the lane back.
func TestAMessageSentSinceTheLastReadIsTakenOffItsCount(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	acquire := admits(t, s, 6, clock.Now().Add(10*time.Minute))
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 5); err != nil {
		t.Fatal(err)
	}
	if !acquire("alice", "a0") { // the worker reads the lane: alice and bob
		t.Fatal("alice's first job refused")
	}
	if err := s.Waiting(ctx, jobs.LaneBulk, "carol", 1); err != nil { // within the same second
		t.Fatal(err)
	}
	if !acquire("carol", "c0") || s.Release(ctx, jobs.LaneBulk, "carol", "c0") != nil {
		t.Fatal("carol's job refused, or its slot not given back")
	}
	clock.Advance(25 * time.Second) // carol's only job ran and ended; she is gone
	for i := range 2 {
		if !acquire("alice", "a"+strconv.Itoa(i+1)) {
			t.Fatalf("alice's job %d refused: carol, with nothing waiting and gone for 25 s, still holds her to a third of the lane", i+2)
		}
	}
	if acquire("alice", "a3") {
		t.Error("alice got a fourth slot of 6 while bob's jobs wait")
	}
}

// A newcomer to a lane is an owner whose messages wait in its queue and
// none of whose messages a worker received lately: a worker holds a
// backlog back from borrowing seats while one holds none.
func TestANewcomerIsAnOwnerWhoseMessagesWaitUnreceived(t *testing.T) {
	t.Parallel()
	s, clock := newShares(t)
	ctx := t.Context()
	until := clock.Now().Add(10 * time.Minute)
	active := func() (int, []string) {
		t.Helper()
		clock.Advance(2 * time.Second) // past the cached count
		users, newcomers, err := s.Active(ctx, jobs.LaneBulk)
		if err != nil {
			t.Fatal(err)
		}
		return users, slices.Sorted(maps.Keys(newcomers))
	}
	if _, err := s.Acquire(ctx, jobs.LaneBulk, "alice", "a0", 4, until); err != nil {
		t.Fatal(err)
	}
	if err := s.Waiting(ctx, jobs.LaneBulk, "bob", 3); err != nil {
		t.Fatal(err)
	}
	if users, newcomers := active(); users != 2 || !slices.Equal(newcomers, []string{"bob"}) {
		t.Errorf("bob's messages queued: %d users, newcomers %v; want 2 and [bob]", users, newcomers)
	}
	if _, err := s.Acquire(ctx, jobs.LaneBulk, "bob", "b0", 4, until); err != nil {
		t.Fatal(err)
	}
	if users, newcomers := active(); users != 2 || len(newcomers) != 0 {
		t.Errorf("one of bob's messages received: %d users, newcomers %v; want 2 and none", users, newcomers)
	}
}
