// Command continuation checks, from outside a running `make dev`, that a
// job whose answer takes several worker deadlines succeeds as one answer
// (issue 15):
//
//	PROMPTQ_DEV_WORKER_TIMEOUT=20s PROMPTQ_LOCAL_TOKENS_PER_SECOND=2 make dev
//	go run ./scripts/measure/continuation      # in another terminal
//
// It submits jobs through the API and polls each every second, as the web
// app does. A job passes when it succeeds after at least two
// continuations (three deadlines), its output was never paid twice, its
// text's first words appear once, and no poll ever saw the text shrink or
// change what it had shown.
//
// -model names the model (the stack's default when empty), which the local
// model stands in for, continuing it the model's way: a prefilled turn, or
// a user turn for the Claude 5.5 models (-model
// us.anthropic.claude-haiku-5-5). Either way the output tokens must equal
// the words of the text: no output is paid twice.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

type job struct {
	Status        string `json:"status"`
	Model         string `json:"model"`
	GeneratedText string `json:"generated_text"`
	Continuations int    `json:"continuations"`
	Tokens        struct {
		Output int `json:"output"`
	} `json:"tokens"`
}

func main() {
	fs := flag.NewFlagSet("continuation", flag.ExitOnError)
	dir := fs.String("dev-dir", devinfo.Dir(os.Getenv), "the dev stack's folder (dev.json)")
	n := fs.Int("jobs", 3, "jobs to submit at once")
	model := fs.String("model", "", "the model to ask (empty: the stack's default)")
	_ = fs.Parse(os.Args[1:])
	if err := run(context.Background(), *dir, *n, *model); err != nil {
		fmt.Fprintln(os.Stderr, "continuation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, n int, model string) error {
	info, err := devinfo.Read(dir)
	if err != nil {
		return fmt.Errorf("read dev.json (is make dev running?): %w", err)
	}
	users, err := loadtest.SignUpUsers(ctx, info, fmt.Sprintf("continuation-%d", time.Now().Unix()), 1, 1)
	if err != nil {
		return err
	}
	api := &apiclient.Client{BaseURL: info.APIURL}
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- follow(ctx, api, users[0].Token, i, model) }()
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			fmt.Println("MISSED", err)
			failed++
		}
	}
	if failed > 0 {
		return errors.New("a target was missed")
	}
	return nil
}

func follow(ctx context.Context, api *apiclient.Client, token string, i int, model string) error {
	req := map[string]any{"prompt": fmt.Sprintf("Job %d: write at length about queues", i), "max_tokens": 1000}
	if model != "" {
		req["model"] = model
	}
	body, _ := json.Marshal(req)
	res, err := api.Do(ctx, http.MethodPost, "/generate", token, nil, body)
	if err != nil {
		return err
	}
	if !res.OK() {
		return res.Err()
	}
	var accepted struct {
		ID string `json:"job_id"`
	}
	if err := json.Unmarshal(res.Body, &accepted); err != nil {
		return err
	}
	start, shown, polls, changes := time.Now(), "", 0, 0
	for time.Since(start) < 10*time.Minute {
		time.Sleep(time.Second)
		res, err := api.Do(ctx, http.MethodGet, "/jobs/"+accepted.ID, token, nil, nil)
		if err != nil || !res.OK() {
			continue // a poll that failed is tried again, as the page does
		}
		var j job
		if err := json.Unmarshal(res.Body, &j); err != nil {
			return err
		}
		polls++
		if !strings.HasPrefix(j.GeneratedText, shown) {
			return fmt.Errorf("job %d: the text shrank or changed after %d characters", i, len(shown))
		}
		if j.GeneratedText != shown {
			changes++
		}
		shown = j.GeneratedText
		switch j.Status {
		case "queued", "running":
			continue
		case "succeeded":
		default:
			return fmt.Errorf("job %d ended %s", i, j.Status)
		}
		words := strings.Fields(j.GeneratedText)
		opening := strings.Join(words[:min(8, len(words))], " ")
		fmt.Printf("job %d (%s, continued by %s): succeeded in %.0f s, %d continuations, %d output tokens, %d words, opening seen %d time(s), %d text changes over %d polls, never shrank\n",
			i, j.Model, jobs.ContinuationOf(j.Model), time.Since(start).Seconds(), j.Continuations, j.Tokens.Output, len(words),
			strings.Count(j.GeneratedText, opening), changes, polls)
		switch {
		case j.Continuations < 2:
			return fmt.Errorf("job %d: %d continuations, want at least 2 (three deadlines); slow the model or shorten the deadline", i, j.Continuations)
		case j.Tokens.Output != len(words):
			return fmt.Errorf("job %d: %d output tokens for %d words: output paid twice", i, j.Tokens.Output, len(words))
		case strings.Count(j.GeneratedText, opening) != 1:
			return fmt.Errorf("job %d: its opening appears more than once", i)
		}
		return nil
	}
	return fmt.Errorf("job %d did not end in 10 minutes", i)
}
