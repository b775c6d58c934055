package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

func testCreateAndGet(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	in := e.job()
	in.Status = jobs.StatusSucceeded // the store decides: a new job is queued
	in.IdempotencyKey = "key-1"

	got, created, err := e.store.Create(t.Context(), in, "fp")
	if err != nil || !created {
		t.Fatalf("Create = created %v, %v; want created", created, err)
	}
	now := e.clock.Now()
	want := in
	want.Status = jobs.StatusQueued
	want.Lane = jobs.LaneInteractive
	want.CreatedAt, want.UpdatedAt, want.SentAt = now, now, now
	want.ExpiresAt = now.Add(jobs.DefaultJobTTL)
	sameJob(t, "Create returned", got, want)
	sameJob(t, "Get returned", e.get(in.ID), want)

	// The store keeps its own copy: changing the caller's job changes
	// nothing stored.
	*in.Temperature = 0.9
	if got := e.get(in.ID); got.Temperature == nil || *got.Temperature != 0.25 {
		t.Errorf("stored temperature changed with the caller's variable: %v", got.Temperature)
	}
}

func testGetMissing(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	_, err := e.store.Get(t.Context(), e.owner, jobs.NewID())
	wantErr(t, "Get of a missing job", err, jobs.ErrNotFound)
}

func testOtherOwner(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	other := randomOwner()
	f := jobs.Failure{Code: jobs.FailurePurged, Message: "Purged."}
	calls := []struct {
		name string
		call func(id string) error
	}{
		{"Get", func(id string) error { _, err := e.store.Get(t.Context(), other, id); return err }},
		{"Cancel", func(id string) error { _, err := e.store.Cancel(t.Context(), other, id); return err }},
		{"AbandonEnqueue", func(id string) error { return e.store.AbandonEnqueue(t.Context(), other, id, f) }},
		{"Claim", func(id string) error { _, err := e.store.Claim(t.Context(), other, id, lease); return err }},
		{"SaveProgress", func(id string) error {
			return e.store.SaveProgress(t.Context(), other, id, 1, jobs.Progress{GeneratedText: "x"}, lease)
		}},
		{"Finish", func(id string) error { return e.store.Finish(t.Context(), other, id, 1, jobs.Progress{}) }},
		{"Fail", func(id string) error { return e.store.Fail(t.Context(), other, id, 1, f) }},
		{"Release", func(id string) error { return e.store.Release(t.Context(), other, id, 1, jobs.Wait{}) }},
		{"Requeue", func(id string) error { _, err := e.store.Requeue(t.Context(), other, id); return err }},
		{"MarkFailed", func(id string) error { return e.store.MarkFailed(t.Context(), other, id, f) }},
	}
	for _, tt := range calls {
		// A running job is one every method could act on if the owner
		// were not part of the key.
		j := e.inStatus(jobs.StatusRunning)
		wantErr(t, tt.name+" of another owner's job", tt.call(j.ID), jobs.ErrNotFound)
		sameJob(t, "job after another owner's "+tt.name, e.get(j.ID), j)
	}
	page, err := e.store.List(t.Context(), other, 100, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Jobs) != 0 {
		t.Errorf("another owner lists %d jobs, want 0", len(page.Jobs))
	}
}

func testList(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	var made []string // oldest first
	for i := range 5 {
		j := e.job()
		if i%2 == 0 {
			// Idempotency records share the partition; they must not
			// show up as jobs.
			j.IdempotencyKey = "key-" + j.ID
		}
		made = append(made, e.create(j, "fp").ID)
		e.clock.Advance(time.Millisecond)
	}
	newest := slices.Clone(made)
	slices.Reverse(newest)
	neighbour := &env{t: t, store: e.store, clock: e.clock, owner: randomOwner()}
	neighbourJob := neighbour.create(neighbour.job(), "fp")

	tests := []struct {
		limit int
		pages [][]string
	}{
		{1, [][]string{newest[0:1], newest[1:2], newest[2:3], newest[3:4], newest[4:5]}},
		{2, [][]string{newest[0:2], newest[2:4], newest[4:5]}},
		{5, [][]string{newest}},
		{100, [][]string{newest}},
	}
	for _, tt := range tests {
		cursor := ""
		for i, want := range tt.pages {
			page, err := e.store.List(t.Context(), e.owner, tt.limit, cursor)
			if err != nil {
				t.Fatalf("limit %d page %d: %v", tt.limit, i, err)
			}
			if got := ids(page.Jobs); !slices.Equal(got, want) {
				t.Fatalf("limit %d page %d: ids %v, want %v", tt.limit, i, got, want)
			}
			last := i == len(tt.pages)-1
			if last != (page.NextCursor == "") {
				t.Fatalf("limit %d page %d: NextCursor %q on the last page = %v", tt.limit, i, page.NextCursor, last)
			}
			cursor = page.NextCursor
		}
	}

	// A cursor names a place among the caller's own jobs only: handed to
	// another owner it can never list this owner's jobs.
	first, err := e.store.List(t.Context(), e.owner, 2, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	page, err := e.store.List(t.Context(), neighbour.owner, 100, first.NextCursor)
	if err != nil && jobs.KindOf(err) != jobs.KindInvalid {
		t.Fatalf("List with another owner's cursor: %v", err)
	}
	for _, j := range page.Jobs {
		if j.Owner != neighbour.owner {
			t.Errorf("another owner's cursor listed job %s of %s", j.ID, j.Owner)
		}
	}
	page, err = e.store.List(t.Context(), neighbour.owner, 100, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got := ids(page.Jobs); !slices.Equal(got, []string{neighbourJob.ID}) {
		t.Errorf("neighbour lists %v, want only its own job %s", got, neighbourJob.ID)
	}
}

func testListBadCursor(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	e.create(e.job(), "fp")
	for _, limit := range []int{0, -1} {
		if _, err := e.store.List(t.Context(), e.owner, limit, ""); jobs.KindOf(err) != jobs.KindInvalid {
			t.Errorf("List(limit %d): error %v, want kind %s", limit, err, jobs.KindInvalid)
		}
	}
	for _, cursor := range []string{"!!!", "AAAA", "not a cursor", jobs.NewID() + "="} {
		_, err := e.store.List(t.Context(), e.owner, 10, cursor)
		if jobs.KindOf(err) != jobs.KindInvalid {
			t.Errorf("List(cursor %q): error %v, want kind %s", cursor, err, jobs.KindInvalid)
			continue
		}
		var de *jobs.Error
		if errors.As(err, &de) && de.Field != "cursor" {
			t.Errorf("List(cursor %q): field %q, want cursor", cursor, de.Field)
		}
	}
}

func testIdempotency(t *testing.T, newStore NewStore) {
	tests := []struct {
		name        string
		advance     time.Duration // between the two creates
		fingerprint string        // of the second create
		sameOwner   bool
		wantErr     error
		wantCreated bool
	}{
		{"same body returns the original", 0, "fp", true, nil, false},
		{"same body just before the key expires", jobs.IdempotencyTTL - time.Second, "fp", true, nil, false},
		{"different body is a mismatch", 0, "other", true, jobs.ErrIdempotencyMismatch, false},
		{"expired key makes a new job", jobs.IdempotencyTTL + time.Second, "fp", true, nil, true},
		{"expired key makes a new job whatever the body", jobs.IdempotencyTTL + time.Second, "other", true, nil, true},
		{"another owner's key is another key", 0, "other", false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, newStore)
			first := e.job()
			first.IdempotencyKey = "retry-me"
			first = e.create(first, "fp")
			e.clock.Advance(tt.advance)

			second := e.job()
			second.IdempotencyKey = first.IdempotencyKey
			if !tt.sameOwner {
				second.Owner = randomOwner()
			}
			got, created, err := e.store.Create(t.Context(), second, tt.fingerprint)
			if tt.wantErr != nil {
				wantErr(t, "second Create", err, tt.wantErr)
			} else if err != nil {
				t.Fatalf("second Create: %v", err)
			}
			if created != tt.wantCreated {
				t.Fatalf("second Create: created = %v, want %v", created, tt.wantCreated)
			}

			_, getErr := e.store.Get(t.Context(), second.Owner, second.ID)
			switch {
			case tt.wantCreated:
				if got.ID != second.ID || getErr != nil {
					t.Errorf("second job %s: returned %s, Get error %v; want it stored", second.ID, got.ID, getErr)
				}
			default:
				wantErr(t, "Get of the job a replay did not store", getErr, jobs.ErrNotFound)
			}
			if tt.wantErr == nil && !tt.wantCreated {
				sameJob(t, "replay returned", got, first)
			}
			sameJob(t, "original job after the second create", e.get(first.ID), first)
		})
	}
}

func testConcurrentCreates(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	const n = 8
	type result struct {
		job     jobs.Job
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		j := e.job()
		j.IdempotencyKey = "double-click"
		wg.Go(func() {
			got, created, err := e.store.Create(t.Context(), j, "fp")
			results[i] = result{got, created, err}
		})
	}
	wg.Wait()

	createdCount := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("Create %d: %v", i, r.err)
		}
		if r.created {
			createdCount++
		}
		if r.job.ID != results[0].job.ID {
			t.Errorf("Create %d returned job %s, Create 0 returned %s", i, r.job.ID, results[0].job.ID)
		}
	}
	if createdCount != 1 {
		t.Errorf("%d of %d concurrent creates with one key created a job, want 1", createdCount, n)
	}
	page, err := e.store.List(t.Context(), e.owner, 100, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Jobs) != 1 {
		t.Errorf("List has %d jobs (%v), want 1", len(page.Jobs), ids(page.Jobs))
	}
}

// allStatuses lists each status a job can be in, for table tests of
// transitions.
var allStatuses = []jobs.Status{
	jobs.StatusQueued, jobs.StatusRunning, jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusCancelled,
}

func testCancel(t *testing.T, newStore NewStore) {
	for _, from := range allStatuses {
		t.Run(string(from), func(t *testing.T) {
			t.Parallel()
			e := setup(t, newStore)
			j := e.inStatus(from)
			e.clock.Advance(time.Second)
			got, err := e.store.Cancel(t.Context(), e.owner, j.ID)
			if from.Terminal() {
				wantErr(t, "Cancel of a "+string(from)+" job", err, jobs.ErrConflict)
				sameJob(t, "job after a refused cancel", e.get(j.ID), j)
				return
			}
			if err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			want := j
			want.Status = jobs.StatusCancelled
			want.UpdatedAt, want.FinishedAt = e.clock.Now(), e.clock.Now()
			want.LeaseUntil = time.Time{}
			sameJob(t, "Cancel returned", got, want)
			sameJob(t, "Get after Cancel", e.get(j.ID), want)
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		_, err := e.store.Cancel(t.Context(), e.owner, jobs.NewID())
		wantErr(t, "Cancel of a missing job", err, jobs.ErrNotFound)
	})
}

func testClaim(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	j := e.inStatus(jobs.StatusQueued)
	e.clock.Advance(time.Second)
	now := e.clock.Now()

	got := e.claim(j.ID)
	want := j
	want.Status = jobs.StatusRunning
	want.Attempts = 1
	want.LeaseUntil = now.Add(lease)
	want.StartedAt, want.UpdatedAt, want.SentAt = now, now, now
	sameJob(t, "Claim returned", got, want)
	sameJob(t, "Get after Claim", e.get(j.ID), want)

	// A duplicate delivery while the first worker holds the lease.
	cur, err := e.store.Claim(t.Context(), e.owner, j.ID, lease)
	wantErr(t, "second Claim", err, jobs.ErrConflict)
	sameJob(t, "second Claim returned the job as it is", cur, want)

	for _, st := range []jobs.Status{jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusCancelled} {
		j := e.inStatus(st)
		cur, err := e.store.Claim(t.Context(), e.owner, j.ID, lease)
		wantErr(t, "Claim of a "+string(st)+" job", err, jobs.ErrConflict)
		sameJob(t, "Claim of a "+string(st)+" job returned", cur, j)
	}

	_, err = e.store.Claim(t.Context(), e.owner, jobs.NewID(), lease)
	wantErr(t, "Claim of a missing job", err, jobs.ErrNotFound)
}

func testClaimAfterLease(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	j := e.inStatus(jobs.StatusRunning)

	// Exactly at lease_until the first worker still holds it.
	e.clock.Advance(lease)
	_, err := e.store.Claim(t.Context(), e.owner, j.ID, lease)
	wantErr(t, "Claim at the lease's end", err, jobs.ErrConflict)

	e.clock.Advance(time.Millisecond)
	got := e.claim(j.ID)
	if got.Attempts != 2 || got.Status != jobs.StatusRunning {
		t.Fatalf("Claim after the lease lapsed: attempts %d status %s, want 2 running", got.Attempts, got.Status)
	}
	if want := e.clock.Now().Add(lease); !got.LeaseUntil.Equal(want) {
		t.Errorf("LeaseUntil = %v, want %v", got.LeaseUntil, want)
	}
}

func testFencing(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)
	e.clock.Advance(lease + time.Millisecond)
	second := e.claim(j.ID)
	old := second.Attempts - 1

	stale := []struct {
		name string
		err  error
	}{
		{"SaveProgress", e.store.SaveProgress(ctx, e.owner, j.ID, old, jobs.Progress{GeneratedText: "stale"}, lease)},
		{"Finish", e.store.Finish(ctx, e.owner, j.ID, old, jobs.Progress{GeneratedText: "stale"})},
		{"Fail", e.store.Fail(ctx, e.owner, j.ID, old, jobs.Failure{Code: jobs.FailureModel, Message: "stale"})},
		{"Release", e.store.Release(ctx, e.owner, j.ID, old, jobs.Wait{})},
	}
	for _, tt := range stale {
		wantErr(t, tt.name+" by the attempt that lost its lease", tt.err, jobs.ErrConflict)
	}
	sameJob(t, "job after the stale writes", e.get(j.ID), second)

	final := jobs.Progress{GeneratedText: "fresh", Tokens: jobs.Tokens{Input: 5, Output: 1}, StopReason: "end_turn"}
	if err := e.store.Finish(ctx, e.owner, j.ID, second.Attempts, final); err != nil {
		t.Fatalf("Finish by the current attempt: %v", err)
	}
	if got := e.get(j.ID); got.Status != jobs.StatusSucceeded || got.GeneratedText != "fresh" {
		t.Errorf("after Finish: status %s text %q, want succeeded \"fresh\"", got.Status, got.GeneratedText)
	}
}

func testSaveProgress(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)

	e.clock.Advance(30 * time.Second)
	p := jobs.Progress{GeneratedText: "Queues wait in line", Tokens: jobs.Tokens{Input: 12, Output: 4}}
	if err := e.store.SaveProgress(ctx, e.owner, j.ID, j.Attempts, p, lease); err != nil {
		t.Fatalf("SaveProgress: %v", err)
	}
	now := e.clock.Now()
	want := j
	want.GeneratedText, want.Tokens = p.GeneratedText, p.Tokens
	want.LeaseUntil, want.UpdatedAt = now.Add(lease), now
	sameJob(t, "Get after SaveProgress", e.get(j.ID), want)

	// Past the first lease but inside the extended one: still held.
	e.clock.Advance(lease)
	_, err := e.store.Claim(ctx, e.owner, j.ID, lease)
	wantErr(t, "Claim inside the extended lease", err, jobs.ErrConflict)

	err = e.store.SaveProgress(ctx, e.owner, jobs.NewID(), 1, p, lease)
	wantErr(t, "SaveProgress of a missing job", err, jobs.ErrNotFound)
}

func testProgressCancelled(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)
	if _, err := e.store.Cancel(ctx, e.owner, j.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	cancelled := e.get(j.ID)
	p := jobs.Progress{GeneratedText: "still going", Tokens: jobs.Tokens{Input: 1, Output: 2}}
	wantErr(t, "SaveProgress after Cancel", e.store.SaveProgress(ctx, e.owner, j.ID, j.Attempts, p, lease), jobs.ErrConflict)
	wantErr(t, "Finish after Cancel", e.store.Finish(ctx, e.owner, j.ID, j.Attempts, p), jobs.ErrConflict)
	sameJob(t, "cancelled job after the worker's writes", e.get(j.ID), cancelled)
}

func testFinishAndFail(t *testing.T, newStore NewStore) {
	t.Run("finish", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		j := e.inStatus(jobs.StatusRunning)
		e.clock.Advance(time.Second)
		p := jobs.Progress{GeneratedText: "A queue of prompts", Tokens: jobs.Tokens{Input: 20, Output: 7}, StopReason: "end_turn"}
		if err := e.store.Finish(t.Context(), e.owner, j.ID, j.Attempts, p); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		now := e.clock.Now()
		want := j
		want.Status = jobs.StatusSucceeded
		want.GeneratedText, want.Tokens, want.StopReason = p.GeneratedText, p.Tokens, p.StopReason
		want.LeaseUntil = time.Time{}
		want.UpdatedAt, want.FinishedAt = now, now
		sameJob(t, "Get after Finish", e.get(j.ID), want)
		wantErr(t, "second Finish", e.store.Finish(t.Context(), e.owner, j.ID, j.Attempts, p), jobs.ErrConflict)
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		ctx := t.Context()
		j := e.inStatus(jobs.StatusRunning)
		partial := jobs.Progress{GeneratedText: "half a", Tokens: jobs.Tokens{Input: 20, Output: 2}}
		if err := e.store.SaveProgress(ctx, e.owner, j.ID, j.Attempts, partial, lease); err != nil {
			t.Fatalf("SaveProgress: %v", err)
		}
		e.clock.Advance(time.Second)
		f := jobs.Failure{Code: jobs.FailureModel, Message: "The model rejected the request."}
		if err := e.store.Fail(ctx, e.owner, j.ID, j.Attempts, f); err != nil {
			t.Fatalf("Fail: %v", err)
		}
		got := e.get(j.ID)
		now := e.clock.Now()
		want := j
		want.Status = jobs.StatusFailed
		want.Failure = &f
		want.GeneratedText, want.Tokens = partial.GeneratedText, partial.Tokens
		want.LeaseUntil = time.Time{}
		want.UpdatedAt, want.FinishedAt = now, now
		sameJob(t, "Get after Fail", got, want)
		wantErr(t, "Finish after Fail", e.store.Finish(ctx, e.owner, j.ID, j.Attempts, partial), jobs.ErrConflict)
	})
}

func testRelease(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)
	partial := jobs.Progress{GeneratedText: "half a", Tokens: jobs.Tokens{Input: 20, Output: 2, CacheRead: 5, CacheWrite: 1}, Continuations: 1}
	if err := e.store.SaveProgress(ctx, e.owner, j.ID, j.Attempts, partial, lease); err != nil {
		t.Fatalf("SaveProgress: %v", err)
	}
	j.GeneratedText, j.Tokens, j.Continuations = partial.GeneratedText, partial.Tokens, partial.Continuations
	wantErr(t, "Release by another attempt", e.store.Release(ctx, e.owner, j.ID, j.Attempts+1, jobs.Wait{}), jobs.ErrConflict)

	e.clock.Advance(time.Second)
	// Its message comes back in 40 s (the worker's backoff), and the job
	// says why: its second try of five failed.
	retry := jobs.Wait{Reason: jobs.WaitRetry, After: 40 * time.Second, Try: 2, Tries: 5, Error: "The model's service failed."}
	if err := e.store.Release(ctx, e.owner, j.ID, j.Attempts, retry); err != nil {
		t.Fatalf("Release: %v", err)
	}
	want := j
	want.Status = jobs.StatusQueued
	want.LeaseUntil, want.StartedAt = time.Time{}, time.Time{}
	want.UpdatedAt = e.clock.Now()
	want.SentAt = e.clock.Now().Add(40 * time.Second)
	want.Waiting = &jobs.Wait{Reason: jobs.WaitRetry, Try: 2, Tries: 5, Error: "The model's service failed."}
	sameJob(t, "Get after Release", e.get(j.ID), want)

	// Claimable at once, without waiting for the old lease; claimed, it
	// waits no more.
	got := e.claim(j.ID)
	if got.Attempts != j.Attempts+1 || got.Waiting != nil || e.get(j.ID).Waiting != nil {
		t.Errorf("Claim after Release: attempts %d (want %d), waiting %+v (want none)", got.Attempts, j.Attempts+1, got.Waiting)
	}
	// A release for the model's quota says so; one with no reason
	// leaves none.
	if err := e.store.Release(ctx, e.owner, j.ID, got.Attempts, jobs.Wait{Reason: jobs.WaitThrottled, After: time.Second}); err != nil {
		t.Fatal(err)
	}
	if w := e.get(j.ID).Waiting; w == nil || *w != (jobs.Wait{Reason: jobs.WaitThrottled}) {
		t.Errorf("waiting after a throttle: %+v", w)
	}
	got = e.claim(j.ID)
	if err := e.store.Release(ctx, e.owner, j.ID, got.Attempts, jobs.Wait{After: time.Second}); err != nil {
		t.Fatal(err)
	}
	if w := e.get(j.ID).Waiting; w != nil {
		t.Errorf("waiting after a release with no reason: %+v", w)
	}
	wantErr(t, "Release of a missing job", e.store.Release(ctx, e.owner, jobs.NewID(), 1, jobs.Wait{}), jobs.ErrNotFound)
}

func testRequeue(t *testing.T, newStore NewStore) {
	tests := []struct {
		name     string
		from     jobs.Status
		advance  time.Duration // after reaching from
		wantErr  error
		requeued bool
	}{
		{"failed", jobs.StatusFailed, 0, nil, true},
		{"queued", jobs.StatusQueued, 0, nil, true},
		{"running with a lapsed lease", jobs.StatusRunning, lease + time.Millisecond, nil, true},
		{"running with a live lease", jobs.StatusRunning, lease, jobs.ErrConflict, false},
		{"succeeded", jobs.StatusSucceeded, 0, jobs.ErrConflict, false},
		{"cancelled", jobs.StatusCancelled, 0, jobs.ErrConflict, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, newStore)
			j := e.inStatus(tt.from)
			e.clock.Advance(tt.advance)
			got, err := e.store.Requeue(t.Context(), e.owner, j.ID)
			if !tt.requeued {
				wantErr(t, "Requeue", err, tt.wantErr)
				sameJob(t, "job after a refused Requeue", e.get(j.ID), j)
				return
			}
			if err != nil {
				t.Fatalf("Requeue: %v", err)
			}
			want := j
			want.Status = jobs.StatusQueued
			want.Failure = nil
			want.GeneratedText, want.Tokens, want.StopReason = "", jobs.Tokens{}, ""
			want.LeaseUntil, want.StartedAt, want.FinishedAt = time.Time{}, time.Time{}, time.Time{}
			want.UpdatedAt, want.SentAt = e.clock.Now(), e.clock.Now()
			sameJob(t, "Requeue returned", got, want)
			sameJob(t, "Get after Requeue", e.get(j.ID), want)
			if c := e.claim(j.ID); c.Attempts != j.Attempts+1 {
				t.Errorf("Claim after Requeue: attempts %d, want %d", c.Attempts, j.Attempts+1)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		_, err := e.store.Requeue(t.Context(), e.owner, jobs.NewID())
		wantErr(t, "Requeue of a missing job", err, jobs.ErrNotFound)
	})
}

func testMarkFailed(t *testing.T, newStore NewStore) {
	f := jobs.Failure{Code: jobs.FailurePurged, Message: "An operator purged the job from the dead-letter queue."}
	tests := []struct {
		name    string
		from    jobs.Status
		advance time.Duration // after reaching from
		failed  bool          // else refused with jobs.ErrConflict, the job unchanged
	}{
		{"queued", jobs.StatusQueued, time.Second, true},
		{"failed", jobs.StatusFailed, time.Second, true},
		{"running with a lapsed lease", jobs.StatusRunning, lease + time.Millisecond, true},
		// A worker is generating it right now: failing it would throw
		// away a result already paid for.
		{"running with a live lease", jobs.StatusRunning, time.Second, false},
		{"running at the last millisecond of its lease", jobs.StatusRunning, lease, false},
		{"succeeded", jobs.StatusSucceeded, time.Second, false},
		{"cancelled", jobs.StatusCancelled, time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, newStore)
			j := e.inStatus(tt.from)
			e.clock.Advance(tt.advance)
			err := e.store.MarkFailed(t.Context(), e.owner, j.ID, f)
			if !tt.failed {
				wantErr(t, "MarkFailed of a "+tt.name+" job", err, jobs.ErrConflict)
				sameJob(t, "job after a refused MarkFailed", e.get(j.ID), j)
				return
			}
			if err != nil {
				t.Fatalf("MarkFailed: %v", err)
			}
			now := e.clock.Now()
			want := j
			want.Status = jobs.StatusFailed
			want.Failure = &f
			want.LeaseUntil = time.Time{}
			want.UpdatedAt, want.FinishedAt = now, now
			sameJob(t, "Get after MarkFailed", e.get(j.ID), want)
			if tt.from == jobs.StatusRunning {
				err := e.store.SaveProgress(t.Context(), e.owner, j.ID, j.Attempts, jobs.Progress{GeneratedText: "x"}, lease)
				wantErr(t, "SaveProgress after MarkFailed", err, jobs.ErrConflict)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		wantErr(t, "MarkFailed of a missing job", e.store.MarkFailed(t.Context(), e.owner, jobs.NewID(), f), jobs.ErrNotFound)
	})
}

func testAbandonEnqueue(t *testing.T, newStore NewStore) {
	f := jobs.Failure{Code: jobs.FailureEnqueue, Message: "The job could not be queued; please try again."}
	abandoned := func(e *env, j jobs.Job) jobs.Job {
		e.t.Helper()
		if err := e.store.AbandonEnqueue(e.t.Context(), e.owner, j.ID, f); err != nil {
			e.t.Fatalf("AbandonEnqueue: %v", err)
		}
		got := e.get(j.ID)
		want := j
		want.Status = jobs.StatusFailed
		want.Failure = &f
		want.UpdatedAt, want.FinishedAt = e.clock.Now(), e.clock.Now()
		sameJob(e.t, "Get after AbandonEnqueue", got, want)
		return got
	}

	t.Run("a retry with the same key makes a new job", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		j := e.job()
		j.IdempotencyKey = "submit-1"
		j = e.create(j, "fp")
		abandoned(e, j)

		retry := e.job()
		retry.IdempotencyKey = j.IdempotencyKey
		got := e.create(retry, "fp")
		if got.ID != retry.ID || got.Status != jobs.StatusQueued {
			t.Errorf("retry got job %s (%s), want the new job %s queued", got.ID, got.Status, retry.ID)
		}
	})
	t.Run("without a key", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		abandoned(e, e.create(e.job(), "fp"))
	})
	t.Run("a key reused after expiry keeps pointing at its new job", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		old := e.job()
		old.IdempotencyKey = "submit-2"
		old = e.create(old, "fp")
		e.clock.Advance(jobs.IdempotencyTTL + time.Second)
		current := e.job()
		current.IdempotencyKey = old.IdempotencyKey
		current = e.create(current, "fp")

		abandoned(e, old)

		again := e.job()
		again.IdempotencyKey = old.IdempotencyKey
		got, created, err := e.store.Create(t.Context(), again, "fp")
		if err != nil || created || got.ID != current.ID {
			t.Errorf("Create with the key = %s created %v err %v; want the current job %s", got.ID, created, err, current.ID)
		}
	})
	for _, from := range []jobs.Status{jobs.StatusRunning, jobs.StatusSucceeded, jobs.StatusCancelled} {
		t.Run("refused when "+string(from), func(t *testing.T) {
			t.Parallel()
			e := setup(t, newStore)
			j := e.inStatus(from)
			wantErr(t, "AbandonEnqueue", e.store.AbandonEnqueue(t.Context(), e.owner, j.ID, f), jobs.ErrConflict)
			sameJob(t, "job after a refused AbandonEnqueue", e.get(j.ID), j)
		})
	}
	t.Run("refused when running, with a key", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		j := e.job()
		j.IdempotencyKey = "submit-3"
		j = e.create(j, "fp")
		e.claim(j.ID)
		j = e.get(j.ID)
		wantErr(t, "AbandonEnqueue", e.store.AbandonEnqueue(t.Context(), e.owner, j.ID, f), jobs.ErrConflict)
		sameJob(t, "job after a refused AbandonEnqueue", e.get(j.ID), j)
		// The key still returns the job.
		again := e.job()
		again.IdempotencyKey = j.IdempotencyKey
		got, created, err := e.store.Create(t.Context(), again, "fp")
		if err != nil || created || got.ID != j.ID {
			t.Errorf("Create with the key = %s created %v err %v; want job %s", got.ID, created, err, j.ID)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := setup(t, newStore)
		wantErr(t, "AbandonEnqueue of a missing job", e.store.AbandonEnqueue(t.Context(), e.owner, jobs.NewID(), f), jobs.ErrNotFound)
	})
}

func testStale(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	t0 := e.clock.Now()
	oldQueued := e.inStatus(jobs.StatusQueued)
	oldRunning := e.inStatus(jobs.StatusRunning) // lease until t0+lease
	bulk := e.job()
	bulk.Lane = jobs.LaneBulk
	oldBulk := e.create(bulk, "fp") // the scan says its lane, for its queue
	for _, st := range []jobs.Status{jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusCancelled} {
		e.inStatus(st)
	}
	e.clock.Advance(10 * time.Minute)
	e.inStatus(jobs.StatusQueued)
	e.inStatus(jobs.StatusRunning)

	// stale lists the env owner's stale jobs by id; other tests may share
	// the table.
	stale := func(before time.Time) map[string]jobs.Job {
		t.Helper()
		got := map[string]jobs.Job{}
		for j, err := range e.store.Stale(ctx, before) {
			if err != nil {
				t.Fatalf("Stale(%s): %v", before, err)
			}
			if j.Owner == e.owner {
				got[j.ID] = j
			}
		}
		return got
	}
	summary := func(j jobs.Job) jobs.Job {
		return jobs.Job{ID: j.ID, Owner: j.Owner, Status: j.Status, Lane: j.Lane, Attempts: j.Attempts,
			UpdatedAt: j.UpdatedAt, LeaseUntil: j.LeaseUntil}
	}

	got := stale(t0.Add(5 * time.Minute))
	want := map[string]jobs.Job{oldQueued.ID: summary(oldQueued), oldRunning.ID: summary(oldRunning), oldBulk.ID: summary(oldBulk)}
	if len(got) != len(want) {
		t.Errorf("Stale(t0+5m) found %d of the owner's jobs, want %d (the queued and running jobs of t0): %v", len(got), len(want), got)
	}
	for id, w := range want {
		sameJob(t, "stale job "+string(w.Status), got[id], w)
	}

	if got := stale(t0); len(got) != 0 {
		t.Errorf("Stale(t0) = %v, want none: the queued job was updated at t0, not before it, and the lease ran to t0+%s", got, lease)
	}

	// A requeued job has a sign of life again.
	if _, err := e.store.Requeue(ctx, e.owner, oldRunning.ID); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	if got := stale(t0.Add(5 * time.Minute)); len(got) != 2 || got[oldQueued.ID].ID == "" || got[oldBulk.ID].ID == "" {
		t.Errorf("Stale(t0+5m) after requeuing the running job = %v, want only the old queued jobs", got)
	}

	// Stopping early is allowed.
	for range e.store.Stale(ctx, e.clock.Now().Add(time.Hour)) {
		break
	}
}

func testLane(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	bulk := e.job()
	bulk.Lane = jobs.LaneBulk
	e.create(bulk, "fp")
	plain := e.create(e.job(), "fp")

	if got := e.get(bulk.ID).Lane; got != jobs.LaneBulk {
		t.Errorf("bulk job's lane = %q, want bulk", got)
	}
	if got := e.get(plain.ID).Lane; got != jobs.LaneInteractive {
		t.Errorf("job created without a lane has lane %q, want interactive", got)
	}
	// The lane survives every transition.
	c := e.claim(bulk.ID)
	if err := e.store.Release(t.Context(), e.owner, bulk.ID, c.Attempts, jobs.Wait{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Requeue(t.Context(), e.owner, bulk.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.get(bulk.ID).Lane; got != jobs.LaneBulk {
		t.Errorf("bulk job's lane after claim, release and requeue = %q", got)
	}
	// CreateMany keeps lanes too, on both of its paths (with and without
	// an idempotency key).
	keyed, plainBulk := e.job(), e.job()
	keyed.Lane, plainBulk.Lane = jobs.LaneBulk, jobs.LaneBulk
	keyed.IdempotencyKey = "bulk-key"
	res := e.store.CreateMany(t.Context(), []jobs.NewJob{{Job: keyed, Fingerprint: "fp"}, {Job: plainBulk, Fingerprint: "fp"}})
	for i, r := range res {
		if r.Err != nil || !r.Created {
			t.Fatalf("CreateMany[%d] = %+v", i, r)
		}
		if got := e.get(r.Job.ID).Lane; got != jobs.LaneBulk || r.Job.Lane != jobs.LaneBulk {
			t.Errorf("CreateMany[%d]: lane %q stored, %q returned; want bulk", i, got, r.Job.Lane)
		}
	}
}

func testSentAt(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	t0 := e.clock.Now()
	j := e.create(e.job(), "fp")
	if !j.SentAt.Equal(t0) {
		t.Errorf("a new job's SentAt = %v, want its creation %v", j.SentAt, t0)
	}
	e.clock.Advance(time.Minute)
	c := e.claim(j.ID)
	if !c.SentAt.Equal(e.clock.Now()) || !e.get(j.ID).SentAt.Equal(e.clock.Now()) {
		t.Errorf("after a claim SentAt = %v, want the claim's time %v", e.get(j.ID).SentAt, e.clock.Now())
	}
	if err := e.store.Fail(ctx, e.owner, j.ID, c.Attempts, jobs.Failure{Code: jobs.FailureRetries, Message: "x"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	r, err := e.store.Requeue(ctx, e.owner, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.SentAt.Equal(e.clock.Now()) {
		t.Errorf("after a requeue SentAt = %v, want %v", r.SentAt, e.clock.Now())
	}
}

func testSwapSentAt(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.create(e.job(), "fp")
	e.clock.Advance(time.Hour)
	later := e.clock.Now()

	// Of many callers that read the same SentAt, one wins.
	const callers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range callers {
		wg.Go(func() {
			_, err := e.store.SwapSentAt(ctx, e.owner, j.ID, j.SentAt, later)
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, jobs.ErrConflict):
				t.Errorf("SwapSentAt: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d concurrent swaps from the same SentAt won, want 1", wins, callers)
	}
	got := e.get(j.ID)
	if !got.SentAt.Equal(later) {
		t.Errorf("SentAt = %v, want %v", got.SentAt, later)
	}
	if !got.UpdatedAt.Equal(j.UpdatedAt) {
		t.Errorf("SwapSentAt changed UpdatedAt from %v to %v: the rescuer's clock must not move", j.UpdatedAt, got.UpdatedAt)
	}
	// Swapping back undoes it (a send that failed after the swap).
	if _, err := e.store.SwapSentAt(ctx, e.owner, j.ID, later, j.SentAt); err != nil {
		t.Fatalf("swap back: %v", err)
	}
	if got := e.get(j.ID).SentAt; !got.Equal(j.SentAt) {
		t.Errorf("after swapping back SentAt = %v, want %v", got, j.SentAt)
	}

	// Only a queued job's SentAt moves.
	running := e.inStatus(jobs.StatusRunning)
	_, err := e.store.SwapSentAt(ctx, e.owner, running.ID, running.SentAt, later)
	wantErr(t, "SwapSentAt of a running job", err, jobs.ErrConflict)
	_, err = e.store.SwapSentAt(ctx, e.owner, jobs.NewID(), time.Time{}, later)
	wantErr(t, "SwapSentAt of a missing job", err, jobs.ErrNotFound)
	_, err = e.store.SwapSentAt(ctx, randomOwner(), j.ID, j.SentAt, later)
	wantErr(t, "SwapSentAt of another owner's job", err, jobs.ErrNotFound)
}

// An answer past DynamoDB's 400 KB item limit, written as a worker writes
// it (a growing text, each write saying how much is already stored, and a
// first write of a long text at once), is stored and served whole, as is
// the job's long prompt; the job's listing stays small.
func testLargeOutput(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)
	var b strings.Builder
	for i := 0; b.Len() < 600_000; i++ {
		fmt.Fprintf(&b, "word %d é 😀 ", i) // multi-byte characters across chunk boundaries
	}
	text := b.String()
	saved := 0
	for _, end := range []int{1000, 5000, 5001, 300_000, 300_000, len(text) - 7, len(text)} {
		p := jobs.Progress{GeneratedText: text[:end], Tokens: jobs.Tokens{Output: end / 4}, Saved: saved}
		if err := e.store.SaveProgress(ctx, e.owner, j.ID, j.Attempts, p, lease); err != nil {
			t.Fatalf("SaveProgress of %d bytes: %v", end, err)
		}
		if got := e.get(j.ID).GeneratedText; got != text[:end] {
			t.Fatalf("after saving %d bytes: got %d bytes, equal prefix %v", end, len(got), strings.HasPrefix(text, got))
		}
		saved = end
	}
	final := text + "The end."
	if err := e.store.Finish(ctx, e.owner, j.ID, j.Attempts, jobs.Progress{GeneratedText: final, StopReason: "end_turn", Saved: saved}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got := e.get(j.ID)
	if got.Status != jobs.StatusSucceeded || got.GeneratedText != final || got.Prompt != j.Prompt {
		t.Errorf("finished job: status %s, %d bytes of text (want %d), prompt kept %v", got.Status, len(got.GeneratedText), len(final), got.Prompt == j.Prompt)
	}
	// A whole long answer in one write, with nothing saved before.
	k := e.inStatus(jobs.StatusRunning)
	if err := e.store.Finish(ctx, e.owner, k.ID, k.Attempts, jobs.Progress{GeneratedText: final, StopReason: "end_turn"}); err != nil {
		t.Fatalf("Finish in one write: %v", err)
	}
	if got := e.get(k.ID).GeneratedText; got != final {
		t.Errorf("one write: %d bytes, want %d", len(got), len(final))
	}
}

func testListPreviews(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	long := strings.Repeat("ü", 5000)
	j, _, err := e.store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: e.owner, Prompt: long, System: "sys", Model: jobs.DefaultModel, MaxTokens: 10}, "fp")
	if err != nil {
		t.Fatal(err)
	}
	c := e.claim(j.ID)
	if err := e.store.SaveProgress(ctx, e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: long + long}, lease); err != nil {
		t.Fatal(err)
	}
	page, err := e.store.List(ctx, e.owner, 10, "")
	if err != nil || len(page.Jobs) == 0 {
		t.Fatalf("List: %v %v", page, err)
	}
	if got := page.Jobs[0]; got.Prompt != jobs.Preview(long) || got.GeneratedText != "" {
		t.Errorf("a running job listed with prompt %d chars, text %q; want the prompt's preview and no text", len([]rune(got.Prompt)), got.GeneratedText)
	}
	if err := e.store.Finish(ctx, e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: long + long, StopReason: "end_turn"}); err != nil {
		t.Fatal(err)
	}
	if page, err = e.store.List(ctx, e.owner, 10, ""); err != nil || len(page.Jobs) == 0 {
		t.Fatalf("List: %v %v", page, err)
	}
	got := page.Jobs[0]
	if got.Prompt != jobs.Preview(long) || got.GeneratedText != jobs.Preview(long) || got.System != "" {
		t.Errorf("listed prompt %d chars, text %d chars, system %q; want previews of %d", len([]rune(got.Prompt)),
			len([]rune(got.GeneratedText)), got.System, jobs.ListPreviewChars+1)
	}
	if whole := e.get(j.ID); whole.Prompt != long || whole.GeneratedText != long+long || whole.System != "sys" {
		t.Errorf("Get is not whole")
	}
}

// Watch marks a job watched (a poll of it, jobs.NeedsWatchMark): Get and
// WatchedUntil show the mark, an earlier one never shortens it, and an
// ended job is not marked. A progress write's TextDueAt is kept for Get.
func testWatch(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.job()
	j.Lane = jobs.LaneBulk
	j = e.create(j, "fp")
	if got, err := e.store.WatchedUntil(ctx, e.owner, j.ID); err != nil || !got.IsZero() {
		t.Fatalf("a new job is watched until %v (%v), want never", got, err)
	}
	until := e.clock.Now().Add(jobs.WatchFor)
	if err := e.store.Watch(ctx, e.owner, j.ID, until); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Watch(ctx, e.owner, j.ID, until.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.WatchedUntil(ctx, e.owner, j.ID); err != nil || !got.Equal(until) {
		t.Errorf("WatchedUntil = %v (%v), want %v", got, err, until)
	}
	if got := e.get(j.ID); !got.WatchedUntil.Equal(until) || got.NeedsWatchMark(e.clock.Now()) {
		t.Errorf("Get's WatchedUntil = %v, want %v, needing no new mark", got.WatchedUntil, until)
	}
	c := e.claim(j.ID)
	if !c.WatchedUntil.Equal(until) {
		t.Errorf("the claimed job is watched until %v, want %v", c.WatchedUntil, until)
	}
	// A progress write says when the next is due, and Get shows it.
	due := e.clock.Now().Add(jobs.WatchedFlushInterval).Truncate(time.Millisecond)
	if err := e.store.SaveProgress(ctx, e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: "so far", TextDueAt: due}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := e.get(j.ID); !got.TextDueAt.Equal(due) {
		t.Errorf("the text is due at %v after a progress write, want %v", got.TextDueAt, due)
	}
	if _, err := e.store.Cancel(ctx, e.owner, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Watch(ctx, e.owner, j.ID, until.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := e.get(j.ID); !got.WatchedUntil.Equal(until) {
		t.Errorf("an ended job was marked watched until %v", got.WatchedUntil)
	}
}

// SentBack records when a queued job's message, sent back to wait, comes
// back; a job that is no longer queued is left as it is.
func testSentBack(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.create(e.job(), "fp")
	e.clock.Advance(time.Minute)
	if err := e.store.SentBack(ctx, e.owner, j.ID, jobs.Wait{Reason: jobs.WaitFairShare, After: 17 * time.Second}); err != nil {
		t.Fatal(err)
	}
	due := e.clock.Now().Add(17 * time.Second)
	want := j
	want.SentAt = due
	want.Waiting = &jobs.Wait{Reason: jobs.WaitFairShare}
	sameJob(t, "Get after SentBack", e.get(j.ID), want)
	// A replay now finds the job's message not yet due.
	if _, err := e.store.SwapSentAt(ctx, e.owner, j.ID, j.SentAt, e.clock.Now()); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("SwapSentAt from the sent_at before the send-back: %v, want a conflict", err)
	}

	c := e.claim(j.ID)
	if c.Waiting != nil {
		t.Errorf("a claimed job still waits: %+v", c.Waiting)
	}
	if err := e.store.SentBack(ctx, e.owner, j.ID, jobs.Wait{Reason: jobs.WaitPace, After: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := e.get(j.ID); !got.SentAt.Equal(c.SentAt) || got.Waiting != nil {
		t.Errorf("a running job's SentAt moved from %v to %v, or it waits (%+v)", c.SentAt, got.SentAt, got.Waiting)
	}
	if err := e.store.SentBack(ctx, e.owner, jobs.NewID(), jobs.Wait{Reason: jobs.WaitPace, After: time.Second}); err != nil {
		t.Errorf("SentBack of a missing job: %v, want nothing done", err)
	}
}

// Appended text may be written without a transaction (dynamo): an attempt
// that lost its claim and appends still changes nothing a reader sees,
// however far its text reaches, and the new claimant's text is whole.
func testStaleAppend(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)
	first := j.Attempts
	save := func(attempt int, text string, saved int) error {
		return e.store.SaveProgress(ctx, e.owner, j.ID, attempt, jobs.Progress{GeneratedText: text, Saved: saved, Appended: true}, lease)
	}
	if err := save(first, "Hello", 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(lease + time.Millisecond)
	second := e.claim(j.ID)
	fresh := "Hello" + strings.Repeat("b", 995) // past the first of dynamo's chunks
	if err := save(second.Attempts, fresh, 5); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{
		"Hello there",                       // into the chunk the new claimant wrote
		"Hello" + strings.Repeat("s", 2995), // and into chunks it has not written yet
	} {
		wantErr(t, "an appending write by the attempt that lost its lease", save(first, stale, 5), jobs.ErrConflict)
		if got := e.get(j.ID).GeneratedText; got != fresh {
			t.Fatalf("after the stale write the text is %d bytes %.20q..., want the new claimant's %d", len(got), got, len(fresh))
		}
	}
	longer := fresh + strings.Repeat("c", 2500)
	if err := save(second.Attempts, longer, len(fresh)); err != nil {
		t.Fatal(err)
	}
	if got := e.get(j.ID).GeneratedText; got != longer {
		t.Errorf("the new claimant's text is %d bytes, want its %d", len(got), len(longer))
	}
}

// A job created with text (one that continues another job's answer:
// jobs.Job.ContinueRequest) starts with it: Get has it whole, a listing
// shows none while it is queued, a claim hands it to the worker to
// continue, and what the worker writes then replaces it as any progress
// does. CreateMany creates such a job too, among others.
func testSeededCreate(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	src := e.inStatus(jobs.StatusSucceeded)
	var b strings.Builder
	for i := 0; b.Len() < 3000; i++ {
		fmt.Fprintf(&b, "seed %d é 😀 ", i) // several chunks, multi-byte characters across their boundaries
	}
	seed := b.String()
	in := e.job()
	in.GeneratedText, in.ContinuesFrom = seed, src.ID
	j := e.create(in, "fp")
	if j.GeneratedText != seed || j.ContinuesFrom != src.ID || j.Status != jobs.StatusQueued {
		t.Fatalf("Create returned %d bytes of text, continues %q, %s; want the seed, %s, queued", len(j.GeneratedText), j.ContinuesFrom, j.Status, src.ID)
	}
	if got := e.get(j.ID); got.GeneratedText != seed || got.ContinuesFrom != src.ID || got.Tokens != (jobs.Tokens{}) {
		t.Errorf("Get: %d bytes of text, continues %q, tokens %+v; want the seed whole, %s, none", len(got.GeneratedText), got.ContinuesFrom, got.Tokens, src.ID)
	}
	page, err := e.store.List(ctx, e.owner, 10, "")
	if err != nil || len(page.Jobs) == 0 || page.Jobs[0].ID != j.ID {
		t.Fatalf("List: %v %v", page, err)
	}
	if got := page.Jobs[0].GeneratedText; got != "" {
		t.Errorf("a queued job listed with %d characters of text; want none until it ends", len([]rune(got)))
	}
	c := e.claim(j.ID)
	if c.GeneratedText != seed {
		t.Fatalf("Claim handed %d bytes of text to continue, want the seed's %d", len(c.GeneratedText), len(seed))
	}
	final := seed + "and the rest."
	if err := e.store.Finish(ctx, e.owner, j.ID, c.Attempts, jobs.Progress{GeneratedText: final, StopReason: "end_turn",
		Saved: len(seed), Appended: true, Continuations: 1}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if got := e.get(j.ID); got.GeneratedText != final || got.Continuations != 1 {
		t.Errorf("finished: %d bytes (want %d), continuations %d", len(got.GeneratedText), len(final), got.Continuations)
	}

	// Replayed from scratch (a requeue: the dead-letter queue's, the
	// rescuer's), it starts again from the text it continues, not from
	// nothing.
	in.ID = jobs.NewID()
	r := e.create(in, "fp2")
	c = e.claim(r.ID)
	if err := e.store.SaveProgress(ctx, e.owner, r.ID, c.Attempts, jobs.Progress{GeneratedText: seed + "half way", Saved: len(seed), Appended: true}, lease); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Fail(ctx, e.owner, r.ID, c.Attempts, jobs.Failure{Code: jobs.FailureRetries, Message: "gave up"}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.Requeue(ctx, e.owner, r.ID); err != nil || got.GeneratedText != seed {
		t.Fatalf("Requeue: %d bytes of text, %v; want the %d bytes it continues", len(got.GeneratedText), err, len(seed))
	}
	if c := e.claim(r.ID); c.GeneratedText != seed {
		t.Errorf("the claim after a requeue has %d bytes to continue, want the %d it was created with", len(c.GeneratedText), len(seed))
	}

	many := []jobs.NewJob{{Job: e.job(), Fingerprint: "a"}, {Job: in, Fingerprint: "b"}, {Job: e.job(), Fingerprint: "c"}}
	many[1].Job.ID = jobs.NewID()
	for i, r := range e.store.CreateMany(ctx, many) {
		if r.Err != nil || !r.Created {
			t.Fatalf("CreateMany entry %d: created %v, %v", i, r.Created, r.Err)
		}
	}
	if got := e.get(many[1].Job.ID); got.GeneratedText != seed || got.ContinuesFrom != src.ID {
		t.Errorf("a job with text among others: %d bytes of text, continues %q", len(got.GeneratedText), got.ContinuesFrom)
	}
	if got := e.get(many[0].Job.ID); got.GeneratedText != "" {
		t.Errorf("a job without text got %d bytes", len(got.GeneratedText))
	}
}

// Search finds a user's jobs by any words of their prompts, system prompts
// and answers, beyond the listings' previews, in any case and inside
// words, every word of the query; another user's jobs never; newest
// first, a page at a time.
func testSearch(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	filler := strings.Repeat("Lorem ipsum dolor sit amet. ", 40) // over 1,000 characters
	submit := func(prompt, system string) jobs.Job {
		j := e.job()
		j.Prompt, j.System = prompt, system
		return e.create(j, "fp")
	}
	deep := submit(filler+"Then the Zebrafish swam.", "")
	sys := submit("A short prompt.", "Answer as a Quokka would.")
	answered := submit("Tell me about whales.", "")
	c := e.claim(answered.ID)
	if err := e.store.Finish(ctx, e.owner, answered.ID, c.Attempts, jobs.Progress{GeneratedText: filler + "The NARWHAL has a tusk.", StopReason: "end_turn"}); err != nil {
		t.Fatal(err)
	}
	other := randomOwner()
	j := e.job()
	j.Owner, j.Prompt = other, "Zebrafish and narwhals."
	if _, _, err := e.store.Create(ctx, j, "fp"); err != nil {
		t.Fatal(err)
	}

	search := func(q string, limit int, cursor string) jobs.Page {
		t.Helper()
		words, err := jobs.SearchWords(q)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.store.Search(ctx, e.owner, words, limit, cursor)
		if err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
		return p
	}
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"zebrafish", []string{deep.ID}},
		{"ZEBRA fish", []string{deep.ID}}, // any case, inside words
		{"quokka", []string{sys.ID}},
		{"narwhal tusk", []string{answered.ID}},
		{"whales narwhal", []string{answered.ID}}, // one word in the prompt, one in the answer
		{"zebrafish narwhal", nil},
		{"lorem", []string{answered.ID, deep.ID}},
		{"absent", nil},
	} {
		p := search(tt.q, 20, "")
		if got := ids(p.Jobs); !slices.Equal(got, tt.want) || p.NextCursor != "" {
			t.Errorf("Search(%q) = %v, cursor %q; want %v, no cursor", tt.q, got, p.NextCursor, tt.want)
		}
		for _, j := range p.Jobs {
			if j.Prompt != jobs.Preview(j.Prompt) || j.System != "" {
				t.Errorf("Search(%q) gave a whole job, want previews as List gives", tt.q)
			}
		}
	}

	// Newest first, a page at a time.
	var made []string
	for i := range 5 {
		made = append(made, submit(fmt.Sprintf("Common job %d.", i), "").ID)
	}
	slices.Reverse(made)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("search pages never end")
		}
		p := search("common", 2, cursor)
		if len(p.Jobs) > 2 {
			t.Fatalf("a page of %d jobs, want at most 2", len(p.Jobs))
		}
		got = append(got, ids(p.Jobs)...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, made) {
		t.Errorf("paged search = %v, want %v", got, made)
	}
	if _, err := e.store.Search(ctx, e.owner, []string{"common"}, 2, "bogus"); jobs.KindOf(err) != jobs.KindInvalid {
		t.Errorf("a malformed cursor: %v, want invalid", err)
	}
}
