// Command economy checks the economy lane end to end from outside a
// running `make dev` (issue 16):
//
//	make dev
//	go run ./scripts/measure/economy            # in another terminal
//
// It signs up a user, submits -jobs prompts (1,000 by default) on the
// economy lane through POST /generate/batch, 100 a call, each with an
// idempotency key, and one prompt on the bulk lane to compare with. Then
// it lists the user's jobs until every one has ended. It passes when the
// user has exactly the jobs it submitted (none lost, none made twice),
// every economy job succeeded once in a run, with text and tokens, and an
// economy job's fields are an on-demand job's plus "economy". It prints
// how long the lane took, and in how many runs.
//
// With -cancel-in-run it plays the review's attack on budgets instead
// (issue 26): it submits -jobs economy prompts (use a few, e.g. 6), waits
// until they are in a run, cancels all but one, and checks that the
// cancelled jobs keep their reservation while the run goes on
// (economy.charge_pending, GET /usage's reserved) and that, once the run
// ended, the user was charged what the run processed: GET /usage's charged
// tokens equal the tokens of every job of the run, cancelled ones included.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

func main() {
	fs := flag.NewFlagSet("economy", flag.ExitOnError)
	dir := fs.String("dev-dir", devinfo.Dir(os.Getenv), "the dev stack's folder (dev.json)")
	n := fs.Int("jobs", 1000, "economy prompts to submit")
	timeout := fs.Duration("timeout", 20*time.Minute, "give up after this long")
	attack := fs.Bool("cancel-in-run", false, "cancel all but one job of a run once it is in_run, and check what is charged")
	_ = fs.Parse(os.Args[1:])
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	do := run
	if *attack {
		do = cancelInRun
	}
	if err := do(ctx, *dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "economy:", err)
		os.Exit(1)
	}
}

// listed is a job as GET /jobs lists it.
type listed struct {
	ID      string `json:"job_id"`
	Status  string `json:"status"`
	Lane    string `json:"lane"`
	Text    string `json:"generated_text"`
	Tokens  struct{ Input, Output int }
	Economy *struct {
		State string `json:"state"`
		RunID string `json:"run_id"`
	} `json:"economy"`
}

func run(ctx context.Context, dir string, n int) error {
	info, err := devinfo.Read(dir)
	if err != nil {
		return fmt.Errorf("read dev.json (is make dev running?): %w", err)
	}
	stamp := time.Now().Unix()
	users, err := loadtest.SignUpUsers(ctx, info, fmt.Sprintf("economy-%d", stamp), 1, 1)
	if err != nil {
		return err
	}
	token := users[0].Token
	api := &apiclient.Client{BaseURL: info.APIURL}

	start := time.Now()
	accepted := map[string]bool{} // job ids the API gave
	for first := 0; first < n; first += 100 {
		var requests []map[string]any
		for i := first; i < min(first+100, n); i++ {
			requests = append(requests, map[string]any{
				"prompt": fmt.Sprintf("Economy prompt %d: name a river", i), "max_tokens": 60,
				"idempotency_key": fmt.Sprintf("economy-%d-%d", stamp, i),
			})
		}
		ids, err := submit(ctx, api, token, map[string]any{"lane": "economy", "requests": requests})
		if err != nil {
			return err
		}
		for _, id := range ids {
			accepted[id] = true
		}
	}
	bulkIDs, err := submit(ctx, api, token, map[string]any{"requests": []map[string]any{{"prompt": "An on-demand prompt to compare with", "max_tokens": 60}}})
	if err != nil {
		return err
	}
	fmt.Printf("submitted %d economy jobs (%d distinct ids) and 1 bulk job in %.1f s\n", n, len(accepted), time.Since(start).Seconds())
	if len(accepted) != n {
		return fmt.Errorf("the API gave %d distinct job ids for %d prompts", len(accepted), n)
	}

	var jobs []listed
	for {
		if jobs, err = list(ctx, api, token); err != nil {
			return err
		}
		ended := 0
		for _, j := range jobs {
			if j.Status != "queued" && j.Status != "running" {
				ended++
			}
		}
		if ended == len(jobs) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs ended before the timeout", ended, len(jobs))
		case <-time.After(2 * time.Second):
		}
	}
	took := time.Since(start)

	var misses []string
	if len(jobs) != n+1 {
		misses = append(misses, fmt.Sprintf("the user has %d jobs, want %d", len(jobs), n+1))
	}
	runs := map[string]int{}
	statuses := map[string]int{}
	for _, j := range jobs {
		if j.ID == bulkIDs[0] {
			continue
		}
		statuses[j.Status]++
		if !accepted[j.ID] {
			misses = append(misses, "job "+j.ID+" was never accepted")
		}
		if j.Lane != "economy" || j.Economy == nil || j.Economy.RunID == "" {
			misses = append(misses, fmt.Sprintf("job %s: lane %s, economy %+v: not in a run", j.ID, j.Lane, j.Economy))
			continue
		}
		runs[j.Economy.RunID]++
		if j.Status != "succeeded" || j.Text == "" || j.Tokens.Output == 0 {
			misses = append(misses, fmt.Sprintf("job %s: %s with %d output tokens", j.ID, j.Status, j.Tokens.Output))
		}
	}
	shapeMiss, err := sameShape(ctx, api, token, jobs[0].ID, bulkIDs[0])
	if err != nil {
		return err
	}
	if shapeMiss != "" {
		misses = append(misses, shapeMiss)
	}
	sizes := make([]int, 0, len(runs))
	for _, c := range runs {
		sizes = append(sizes, c)
	}
	sort.Ints(sizes)
	fmt.Printf("all %d jobs ended in %.1f s: economy %v, in %d runs of %v jobs; an economy job's fields are a bulk job's plus \"economy\": %v\n",
		len(jobs), took.Seconds(), statuses, len(runs), sizes, shapeMiss == "")
	if len(misses) > 0 {
		for _, m := range misses[:min(len(misses), 20)] {
			fmt.Println("MISSED", m)
		}
		return fmt.Errorf("%d misses", len(misses))
	}
	return nil
}

// submit posts a batch, waiting out 429s, and returns its job ids.
func submit(ctx context.Context, api *apiclient.Client, token string, body map[string]any) ([]string, error) {
	b, _ := json.Marshal(body)
	for {
		res, err := api.Do(ctx, http.MethodPost, "/generate/batch", token, nil, b)
		if err != nil {
			return nil, err
		}
		if res.Status == http.StatusTooManyRequests {
			wait, _ := res.RetryAfter()
			time.Sleep(max(wait, time.Second))
			continue
		}
		if !res.OK() {
			return nil, res.Err()
		}
		var v struct {
			Results []struct {
				JobID string `json:"job_id"`
				Error *struct{ Code, Message string }
			} `json:"results"`
		}
		if err := json.Unmarshal(res.Body, &v); err != nil {
			return nil, err
		}
		var ids []string
		for _, r := range v.Results {
			if r.Error != nil {
				return nil, fmt.Errorf("an entry was refused: %s %s", r.Error.Code, r.Error.Message)
			}
			ids = append(ids, r.JobID)
		}
		return ids, nil
	}
}

// list reads every job of the user, page by page.
func list(ctx context.Context, api *apiclient.Client, token string) ([]listed, error) {
	var all []listed
	cursor := ""
	for {
		path := "/jobs?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		res, err := api.Do(ctx, http.MethodGet, path, token, nil, nil)
		if err != nil {
			return nil, err
		}
		if res.Status == http.StatusTooManyRequests {
			time.Sleep(time.Second)
			continue
		}
		if !res.OK() {
			return nil, res.Err()
		}
		var page struct {
			Jobs       []listed `json:"jobs"`
			NextCursor string   `json:"next_cursor"`
		}
		if err := json.Unmarshal(res.Body, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Jobs...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// sameShape compares GET /jobs/{id}'s fields for an economy job and an
// on-demand one: "" when the economy job's are the other's plus
// "economy".
func sameShape(ctx context.Context, api *apiclient.Client, token, economyID, bulkID string) (string, error) {
	keys := func(id string) ([]string, error) {
		res, err := api.Do(ctx, http.MethodGet, "/jobs/"+id, token, nil, nil)
		if err != nil {
			return nil, err
		}
		if !res.OK() {
			return nil, res.Err()
		}
		var m map[string]any
		if err := json.Unmarshal(res.Body, &m); err != nil {
			return nil, err
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks, nil
	}
	e, err := keys(economyID)
	if err != nil {
		return "", err
	}
	b, err := keys(bulkID)
	if err != nil {
		return "", err
	}
	e = slices.DeleteFunc(e, func(k string) bool { return k == "economy" })
	if !slices.Equal(e, b) {
		return fmt.Sprintf("an economy job has fields %v, an on-demand one %v", e, b), nil
	}
	return "", nil
}

// usageNow is the part of GET /usage the attack reads.
type usageNow struct {
	Tokens struct {
		Charged  int `json:"charged"`
		Reserved int `json:"reserved"`
	} `json:"tokens"`
	Jobs struct {
		Active int `json:"active"`
	} `json:"jobs"`
}

// jobNow is the part of GET /jobs/{id} the attack reads.
type jobNow struct {
	Status string `json:"status"`
	Tokens struct {
		Input      int `json:"input"`
		Output     int `json:"output"`
		CacheRead  int `json:"cache_read"`
		CacheWrite int `json:"cache_write"`
	} `json:"tokens"`
	Economy *struct {
		State         string `json:"state"`
		RunID         string `json:"run_id"`
		ChargePending bool   `json:"charge_pending"`
	} `json:"economy"`
}

func getJSON(ctx context.Context, api *apiclient.Client, token, path string, v any) error {
	for {
		res, err := api.Do(ctx, http.MethodGet, path, token, nil, nil)
		if err != nil {
			return err
		}
		if res.Status == http.StatusTooManyRequests {
			time.Sleep(time.Second)
			continue
		}
		if !res.OK() {
			return res.Err()
		}
		return json.Unmarshal(res.Body, v)
	}
}

// cancelInRun is the review's attack on budgets, from outside make dev.
func cancelInRun(ctx context.Context, dir string, n int) error {
	info, err := devinfo.Read(dir)
	if err != nil {
		return fmt.Errorf("read dev.json (is make dev running?): %w", err)
	}
	stamp := time.Now().Unix()
	users, err := loadtest.SignUpUsers(ctx, info, fmt.Sprintf("attack-%d", stamp), 1, 1)
	if err != nil {
		return err
	}
	token := users[0].Token
	api := &apiclient.Client{BaseURL: info.APIURL}
	var requests []map[string]any
	for i := range n {
		requests = append(requests, map[string]any{"prompt": fmt.Sprintf("Economy prompt %d: name a river", i), "max_tokens": 60})
	}
	ids, err := submit(ctx, api, token, map[string]any{"lane": "economy", "requests": requests})
	if err != nil {
		return err
	}
	var before usageNow
	if err := getJSON(ctx, api, token, "/usage", &before); err != nil {
		return err
	}
	// Wait until the first job is in its run, then cancel all but it.
	for {
		var j jobNow
		if err := getJSON(ctx, api, token, "/jobs/"+ids[0], &j); err != nil {
			return err
		}
		if j.Economy != nil && j.Economy.State == "in_run" {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the jobs never went into a run")
		case <-time.After(200 * time.Millisecond):
		}
	}
	pending := 0
	for _, id := range ids[1:] {
		res, err := api.Do(ctx, http.MethodPost, "/jobs/"+id+"/cancel", token, nil, nil)
		if err != nil {
			return err
		}
		var j jobNow
		if res.OK() && json.Unmarshal(res.Body, &j) == nil && j.Economy != nil && j.Economy.ChargePending {
			pending++
		}
	}
	var during usageNow
	if err := getJSON(ctx, api, token, "/usage", &during); err != nil {
		return err
	}
	fmt.Printf("submitted %d economy jobs: %d tokens reserved, %d active; cancelled %d in their run (%d say charge_pending): %d reserved, %d charged, %d active\n",
		n, before.Tokens.Reserved, before.Jobs.Active, n-1, pending, during.Tokens.Reserved, during.Tokens.Charged, during.Jobs.Active)
	// Until every job has ended and no charge is pending.
	var all []jobNow
	for {
		all = all[:0]
		done := true
		for _, id := range ids {
			var j jobNow
			if err := getJSON(ctx, api, token, "/jobs/"+id, &j); err != nil {
				return err
			}
			all = append(all, j)
			if j.Status == "queued" || j.Status == "running" || j.Economy != nil && j.Economy.ChargePending {
				done = false
			}
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the run never ended")
		case <-time.After(time.Second):
		}
	}
	var after usageNow
	if err := getJSON(ctx, api, token, "/usage", &after); err != nil {
		return err
	}
	processed, cancelledCharged := 0, 0
	for i, j := range all {
		t := j.Tokens.Input + j.Tokens.Output + j.Tokens.CacheRead + j.Tokens.CacheWrite
		processed += t
		if i > 0 {
			cancelledCharged += t
		}
	}
	fmt.Printf("after the run: the run's jobs show %d tokens (%d of them the cancelled jobs'); usage: %d charged, %d reserved, %d active\n",
		processed, cancelledCharged, after.Tokens.Charged, after.Tokens.Reserved, after.Jobs.Active)
	var misses []string
	if pending != n-1 || during.Tokens.Reserved < before.Tokens.Reserved || during.Jobs.Active != n {
		misses = append(misses, "the cancelled jobs did not keep their reservation while the run went on")
	}
	if after.Tokens.Charged != processed || after.Tokens.Reserved != 0 || after.Jobs.Active != 0 {
		misses = append(misses, fmt.Sprintf("charged %d for a run that processed %d", after.Tokens.Charged, processed))
	}
	if cancelledCharged == 0 {
		misses = append(misses, "the cancelled jobs were charged nothing, though the run processed them")
	}
	for _, m := range misses {
		fmt.Println("MISSED", m)
	}
	if len(misses) > 0 {
		return fmt.Errorf("%d misses", len(misses))
	}
	return nil
}
