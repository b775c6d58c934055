package devstack_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestEconomyBatchesRunThroughTheBatchStandIn submits a batch on the
// economy lane to a running dev stack over HTTP, as a script would: six
// prompts, one of which the batch stand-in's model refuses, with
// economy_fallback. The collector gathers them into one run (the dev
// minimum is 5), the batch stand-in runs it, and its completion event ends
// each job once: five succeed with text and tokens, in a run whose
// progress GET /jobs/{id} showed, and the refused one runs on the bulk
// lane instead, where the worker's local model refuses it too.
func TestEconomyBatchesRunThroughTheBatchStandIn(t *testing.T) {
	t.Parallel()
	env := stackEnv(t, t.TempDir())
	env["PROMPTQ_DEV_ECONOMY_EVERY"] = "200ms"
	env["PROMPTQ_DEV_ECONOMY_START_AFTER"] = "1s"
	s, out := startStack(t, env)
	info := s.Info()
	u := signUp(t, info, out, nil)

	var requests []map[string]any
	for i := range 5 {
		requests = append(requests, map[string]any{"prompt": fmt.Sprintf("Economy prompt %d", i), "max_tokens": 60})
	}
	requests = append(requests, map[string]any{"prompt": "promptq-fault:invalid in a batch"})
	var res struct {
		Lane    string `json:"lane"`
		Results []struct {
			JobID string `json:"job_id"`
		} `json:"results"`
	}
	code := call(t, http.MethodPost, info.APIURL+"/generate/batch", u.access,
		map[string]any{"lane": "economy", "economy_fallback": true, "requests": requests}, &res)
	if code != http.StatusAccepted || res.Lane != "economy" || len(res.Results) != 6 {
		t.Fatalf("POST /generate/batch: %d %+v", code, res)
	}
	// The first job is watched as the page would: waiting, then in its
	// run (the run waits a second before it runs), then done.
	type economyJob struct {
		job
		Lane    string `json:"lane"`
		Economy *struct {
			State        string `json:"state"`
			RecordsTotal int    `json:"records_total"`
		} `json:"economy"`
	}
	states := map[string]bool{}
	for {
		var j economyJob
		if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+res.Results[0].JobID, u.access, nil, &j); code != http.StatusOK {
			t.Fatalf("GET: %d", code)
		}
		if j.Economy != nil {
			states[j.Economy.State] = true
			if j.Economy.State == "in_run" && j.Economy.RecordsTotal != 6 {
				t.Errorf("in a run of %d records, want 6", j.Economy.RecordsTotal)
			}
		}
		if j.Status == "succeeded" || j.Status == "failed" {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("job still %s", j.Status)
		case <-time.After(150 * time.Millisecond):
		}
	}
	if !states["in_run"] {
		t.Errorf("GET /jobs/{id} showed economy states %v, never in_run", states)
	}
	for i, r := range res.Results {
		var j economyJob
		done := finished(t, info, u, r.JobID)
		if i < 5 {
			if done.Status != "succeeded" || done.GeneratedText == "" || done.Tokens.Output == 0 {
				t.Errorf("economy job %d: %s, %d output tokens, error %+v", i, done.Status, done.Tokens.Output, done.Error)
			}
			continue
		}
		// Rerouted: the bulk lane's worker meets the same refusal.
		if code := call(t, http.MethodGet, info.APIURL+"/jobs/"+r.JobID, u.access, nil, &j); code != http.StatusOK {
			t.Fatal(code)
		}
		if done.Status != "failed" || j.Lane != "bulk" {
			t.Errorf("the refused job: %s on %s, want failed on the bulk lane", done.Status, j.Lane)
		}
	}
}
