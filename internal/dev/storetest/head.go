package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
)

// testHead: Head is a finished job as Get has it, but with the previews of
// its prompt and text and no system prompt (what GET /jobs/{id} reads to
// answer a poll whose copy is current with 304, without the text).
func testHead(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	j := e.inStatus(jobs.StatusRunning)
	e.clock.Advance(time.Second)
	long := strings.Repeat("a generated word ", 100)
	if err := e.store.Finish(ctx, e.owner, j.ID, j.Attempts, jobs.Progress{GeneratedText: long, Tokens: jobs.Tokens{Input: 5, Output: 400}}); err != nil {
		t.Fatal(err)
	}
	want := e.get(j.ID)
	want.Prompt, want.GeneratedText, want.System = jobs.Preview(want.Prompt), jobs.Preview(want.GeneratedText), ""
	got, err := e.store.Head(ctx, e.owner, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJob(t, "Head of a finished job", got, want)
	if _, err := e.store.Head(ctx, "someone-else", j.ID); err == nil {
		t.Error("Head of another owner's job found it")
	}
}
