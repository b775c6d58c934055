package storetest

import (
	"reflect"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

// A job's response format is part of its input: Get and Claim give it
// whole, as the worker checks the answer against it; Head and List, which
// read the job item only, give none.
func testResponseFormat(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	in := e.job()
	in.ResponseFormat = &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Name: "review",
		Schema: []byte(`{"type":"object","properties":{"b":{"type":"string"},"a":{"enum":[1,2]}},"required":["b"]}`)}
	if _, _, err := e.store.Create(t.Context(), in, "fp"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(in.ID).ResponseFormat; !reflect.DeepEqual(got, in.ResponseFormat) {
		t.Errorf("Get's response format = %+v, want %+v", got, in.ResponseFormat)
	}
	claimed, err := e.store.Claim(t.Context(), e.owner, in.ID, lease)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(claimed.ResponseFormat, in.ResponseFormat) {
		t.Errorf("Claim's response format = %+v, want %+v", claimed.ResponseFormat, in.ResponseFormat)
	}
	if h, err := e.store.Head(t.Context(), e.owner, in.ID); err != nil || h.ResponseFormat != nil {
		t.Errorf("Head = %+v, %v; want no response format", h.ResponseFormat, err)
	}
	page, err := e.store.List(t.Context(), e.owner, 10, "")
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ResponseFormat != nil {
		t.Errorf("List = %d jobs, %v; want one without its response format", len(page.Jobs), err)
	}
	plain := e.job()
	if _, _, err := e.store.Create(t.Context(), plain, "fp2"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(plain.ID).ResponseFormat; got != nil {
		t.Errorf("a job without a response format got %+v", got)
	}
}
