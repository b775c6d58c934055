package dynamo_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/awscount"
)

// TestAProgressWriteCostsTheSameWhateverThePromptsSize measures the write
// units of a job's progress writes, as a worker makes them (about 200
// bytes of new text a second, appended, each write saying how much is
// stored), for a 100-character and a 100,000-character prompt, and wants
// them within 10% of each other and at most 3.5 units
// (docs/benchmarks.md has the numbers). Units follow DynamoDB's rules from
// the sizes of the items written: a write is a unit per KB of the item
// (for an update, the larger of its sizes before and after; twice that in
// a transaction), plus one for the `active` index entry a job item's
// update rewrites (lease_until and updated_at are projected); kumo does
// not report consumed capacity.
func TestAProgressWriteCostsTheSameWhateverThePromptsSize(t *testing.T) {
	t.Parallel()
	const writes = 60
	short := measureProgressWrites(t, strings.Repeat("p", 100), writes)
	long := measureProgressWrites(t, strings.Repeat("p", 100_000), writes)
	t.Logf("write units per progress write over %d writes (about %d KB of text): 100-char prompt %.2f, 100,000-char prompt %.2f",
		writes, writes*200/1024, short, long)
	if math.Abs(long-short) > 0.1*short {
		t.Errorf("a progress write costs %.2f units with a 100-character prompt and %.2f with a 100,000-character one; want within 10%%", short, long)
	}
	// An appended write is one chunk of a unit (two when the new text
	// crosses a chunk boundary), the job item's unit and its index entry's.
	if short > 3.5 || long > 3.5 {
		t.Errorf("a progress write costs %.2f and %.2f units; want at most 3.5", short, long)
	}
}

func measureProgressWrites(t *testing.T, prompt string, writes int) float64 {
	t.Helper()
	k := standin.Kumo(t)
	table := newTable(t, k)
	var mu sync.Mutex
	var transacts []*dynamodb.TransactWriteItemsInput
	var puts []*dynamodb.PutItemInput
	var updates int
	counter := awscount.New(func(c awscount.Call) {
		mu.Lock()
		defer mu.Unlock()
		switch in := c.Input.(type) {
		case *dynamodb.TransactWriteItemsInput:
			transacts = append(transacts, in)
		case *dynamodb.UpdateItemInput:
			updates++
		case *dynamodb.PutItemInput:
			puts = append(puts, in)
		}
	})
	client := standin.DynamoDB(k.URL, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.Middleware) })
	s := dynamo.New(client, table, dynamo.Options{})
	j, _, err := s.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: "sub-1", Prompt: prompt, Model: jobs.DefaultModel, MaxTokens: 4000}, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(t.Context(), j.Owner, j.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	jobItem := func() int { return awscount.ItemSize(rawItem(t, k, table, "USER#sub-1", "JOB#"+j.ID)) }

	units := 0.0
	text, saved := "", 0
	for i := range writes {
		text += strings.Repeat("a word ", 28) + "w" + string(rune('a'+i%26)) + " " // about 200 bytes
		before := jobItem()
		mu.Lock()
		transacts, puts, updates = nil, nil, 0
		mu.Unlock()
		p := jobs.Progress{GeneratedText: text, Tokens: jobs.Tokens{Input: 10}, Saved: saved, Appended: true}
		if err := s.SaveProgress(t.Context(), j.Owner, j.ID, c.Attempts, p, time.Minute); err != nil {
			t.Fatal(err)
		}
		saved = len(text)
		after := jobItem()
		mu.Lock()
		for _, in := range transacts {
			for _, a := range in.TransactItems {
				switch {
				case a.Put != nil:
					units += 2 * kb(awscount.ItemSize(a.Put.Item))
				case a.Update != nil:
					units += 2*kb(max(before, after)) + 1 // and its index entry
				case a.ConditionCheck != nil:
					units += 2 * kb(max(before, after))
				}
			}
		}
		units += float64(updates) * (kb(max(before, after)) + 1)
		for _, in := range puts {
			units += kb(awscount.ItemSize(in.Item))
		}
		mu.Unlock()
	}
	if got, err := s.Get(t.Context(), j.Owner, j.ID); err != nil || got.GeneratedText != text || got.Prompt != prompt {
		t.Fatalf("the job does not hold what was written: %v", err)
	}
	return units / float64(writes)
}

// kb is a size in write units: whole KB, at least one.
func kb(bytes int) float64 { return math.Max(1, math.Ceil(float64(bytes)/1024)) }
