package storetest

import (
	"fmt"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

// testCreateMany: a bulk create answers each entry as Create would, in
// order: new jobs with and without keys, a replayed key, a reused key with
// another body, a key twice in one call, and more entries than one
// DynamoDB call takes.
func testCreateMany(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	earlier := e.job()
	earlier.IdempotencyKey = "seen-before"
	earlier = e.create(earlier, "fp-seen")

	var items []jobs.NewJob
	add := func(key, fp string) int {
		j := e.job()
		j.IdempotencyKey = key
		items = append(items, jobs.NewJob{Job: j, Fingerprint: fp})
		return len(items) - 1
	}
	replay := add("seen-before", "fp-seen")
	mismatch := add("seen-before", "fp-other")
	dupFirst := add("twice", "fp-twice")
	dupSame := add("twice", "fp-twice")
	dupOther := add("twice", "fp-changed")
	var fresh []int
	for i := range 60 { // more than one transaction (50) and one BatchWriteItem (25)
		key := ""
		if i%2 == 0 {
			key = fmt.Sprintf("line-%d", i)
		}
		fresh = append(fresh, add(key, fmt.Sprintf("fp-%d", i)))
	}

	res := e.store.CreateMany(t.Context(), items)
	if len(res) != len(items) {
		t.Fatalf("CreateMany answered %d entries, want %d", len(res), len(items))
	}
	if r := res[replay]; r.Err != nil || r.Created || r.Job.ID != earlier.ID {
		t.Errorf("replayed key: %+v, want the earlier job, not created", r)
	}
	wantErr(t, "reused key with another body", res[mismatch].Err, jobs.ErrIdempotencyMismatch)
	if r := res[dupFirst]; r.Err != nil || !r.Created {
		t.Errorf("first use of a key: %+v, want created", r)
	}
	if r := res[dupSame]; r.Err != nil || r.Created || r.Job.ID != res[dupFirst].Job.ID {
		t.Errorf("same key, same body, same call: %+v, want the first entry's job", r)
	}
	wantErr(t, "same key, other body, same call", res[dupOther].Err, jobs.ErrIdempotencyMismatch)
	for _, i := range fresh {
		r := res[i]
		if r.Err != nil || !r.Created || r.Job.ID != items[i].Job.ID || r.Job.Status != jobs.StatusQueued {
			t.Fatalf("fresh entry %d: %+v, want created and queued", i, r)
		}
		if got := e.get(items[i].Job.ID); got.Prompt != items[i].Job.Prompt {
			t.Fatalf("fresh entry %d not stored", i)
		}
	}

	// The keyed entries again, as a re-run of a batch sends them: nothing
	// new. (Entries without a key always carry fresh ids from the API; a
	// bulk write does not check ids, so they are not re-sent here.)
	var rerun []jobs.NewJob
	var rerunOf []int
	for _, i := range fresh {
		if items[i].Job.IdempotencyKey != "" {
			j := items[i].Job
			j.ID = jobs.NewID() // a re-run makes new ids; the key finds the old job
			rerun = append(rerun, jobs.NewJob{Job: j, Fingerprint: items[i].Fingerprint})
			rerunOf = append(rerunOf, i)
		}
	}
	again := e.store.CreateMany(t.Context(), rerun)
	for k, r := range again {
		i := rerunOf[k]
		if r.Err != nil || r.Created || r.Job.ID != items[i].Job.ID {
			t.Fatalf("re-run of keyed entry %d: %+v, want the original job %s", i, r, items[i].Job.ID)
		}
	}
	n := 0
	for cursor := ""; ; {
		page, err := e.store.List(t.Context(), e.owner, 100, cursor)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Jobs)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if want := 1 + 1 + len(fresh); n != want { // earlier, "twice", the fresh ones
		t.Errorf("%d jobs stored, want %d", n, want)
	}
}
