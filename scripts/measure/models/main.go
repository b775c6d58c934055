// Command models checks, from outside a running `make dev`, that the API
// and the worker follow each model's rules (issue 27), as a client meets
// them over HTTP:
//
//	make dev
//	go run ./scripts/measure/models      # in another terminal
//
// Under make dev the local model stands in for every model of the
// catalogue and answers as that model does on Bedrock (the dev stack's
// default is the local model itself, so each check names its model). Each check submits
// through the API and reads the job back; a refused request must store
// nothing (the user's job count is read before and after). It prints one
// line a check and exits non-zero when one is missed. The continuation of
// a long answer is scripts/measure/continuation's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

const (
	haiku55 = catalogue.DefaultModel
	haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
)

func main() {
	fs := flag.NewFlagSet("models", flag.ExitOnError)
	dir := fs.String("dev-dir", devinfo.Dir(os.Getenv), "the dev stack's folder (dev.json)")
	_ = fs.Parse(os.Args[1:])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "models:", err)
		os.Exit(1)
	}
}

// job is the part of GET /jobs/{id} the checks read.
type job struct {
	ID       string `json:"job_id"`
	Status   string `json:"status"`
	Model    string `json:"model"`
	Effort   string `json:"effort"`
	Thinking string `json:"thinking"`
	Text     string `json:"generated_text"`
	Attempts int    `json:"attempts"`
	Tokens   struct {
		Input  int `json:"input"`
		Output int `json:"output"`
	} `json:"tokens"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type client struct {
	api   *apiclient.Client
	token string
}

func (c client) do(ctx context.Context, method, path string, body any) (apiclient.Response, error) {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	return c.api.Do(ctx, method, path, c.token, nil, b)
}

// count is the user's number of jobs.
func (c client) count(ctx context.Context) (int, error) {
	res, err := c.do(ctx, http.MethodGet, "/jobs?limit=100", nil)
	if err != nil {
		return 0, err
	}
	var page struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	return len(page.Jobs), json.Unmarshal(res.Body, &page)
}

// refused submits body and reports whether the API answered 400 naming
// field, and stored nothing.
func (c client) refused(ctx context.Context, path string, body any, field string) (string, bool, error) {
	before, err := c.count(ctx)
	if err != nil {
		return "", false, err
	}
	res, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return "", false, err
	}
	var e struct {
		Error struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"error"`
		Results []struct {
			Error *struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	_ = json.Unmarshal(res.Body, &e)
	got, msg := e.Error.Field, e.Error.Message
	if path == "/generate/batch" && len(e.Results) == 1 && e.Results[0].Error != nil {
		got, msg = e.Results[0].Error.Field, e.Results[0].Error.Message
	}
	after, err := c.count(ctx)
	if err != nil {
		return "", false, err
	}
	status := res.Status
	if path == "/generate/batch" && got != "" {
		status = http.StatusBadRequest // the entry's own 400, in a 202 of no job
	}
	line := fmt.Sprintf("%d %s: %q, %d jobs stored", res.Status, got, msg, after-before)
	return line, status == http.StatusBadRequest && got == field && after == before, nil
}

// ended submits body and follows its job to its end.
func (c client) ended(ctx context.Context, body any) (job, error) {
	res, err := c.do(ctx, http.MethodPost, "/generate", body)
	if err != nil {
		return job{}, err
	}
	if res.Status != http.StatusAccepted {
		return job{}, fmt.Errorf("POST /generate: %d %s", res.Status, res.Body)
	}
	var a struct {
		ID string `json:"job_id"`
	}
	if err := json.Unmarshal(res.Body, &a); err != nil {
		return job{}, err
	}
	for {
		res, err := c.do(ctx, http.MethodGet, "/jobs/"+a.ID, nil)
		if err != nil {
			return job{}, err
		}
		var j job
		if err := json.Unmarshal(res.Body, &j); err != nil {
			return job{}, err
		}
		if j.Status != "queued" && j.Status != "running" {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, dir string) error {
	info, err := devinfo.Read(dir)
	if err != nil {
		return fmt.Errorf("read dev.json (is make dev running?): %w", err)
	}
	users, err := loadtest.SignUpUsers(ctx, info, fmt.Sprintf("models-%d", time.Now().Unix()), 1, 1)
	if err != nil {
		return err
	}
	c := client{api: &apiclient.Client{BaseURL: info.APIURL}, token: users[0].Token}
	missed := 0
	report := func(name, line string, ok bool) {
		verdict := "ok"
		if !ok {
			verdict = "MISSED"
			missed++
		}
		fmt.Printf("%-6s %-58s %s\n", verdict, name, line)
	}

	for _, tc := range []struct {
		name, path, field string
		body              any
	}{
		{"temperature on Claude Haiku 5.5 is a 400", "/generate", "temperature",
			map[string]any{"prompt": "Hi", "model": haiku55, "temperature": 0.5}},
		{"temperature 0 on Claude Haiku 5.5 too", "/generate", "temperature", map[string]any{"prompt": "Hi", "model": haiku55, "temperature": 0}},
		{"temperature on Haiku 5.5 in a batch entry", "/generate/batch", "temperature",
			map[string]any{"requests": []any{map[string]any{"prompt": "Hi", "model": haiku55, "temperature": 0.5}}}},
		{"an effort on Claude Haiku 4.5, which takes none", "/generate", "effort",
			map[string]any{"prompt": "Hi", "model": haiku45, "effort": "low"}},
		{"an effort Claude Haiku 5.5 does not take", "/generate", "effort", map[string]any{"prompt": "Hi", "model": haiku55, "effort": "extreme"}},
	} {
		line, ok, err := c.refused(ctx, tc.path, tc.body, tc.field)
		if err != nil {
			return err
		}
		report(tc.name, line, ok)
	}

	j, err := c.ended(ctx, map[string]any{"prompt": "Name a river.", "max_tokens": 100, "model": haiku55})
	if err != nil {
		return err
	}
	report("Claude Haiku 5.5 by default: effort medium, thinking off",
		fmt.Sprintf("%s %s, effort %q, thinking %q, %d output tokens for %d words", j.Status, j.Model, j.Effort, j.Thinking, j.Tokens.Output, len(strings.Fields(j.Text))),
		j.Status == "succeeded" && j.Model == haiku55 && j.Effort == "medium" && j.Thinking == "off" && j.Tokens.Output == len(strings.Fields(j.Text)))

	t, err := c.ended(ctx, map[string]any{"prompt": "Name a river.", "max_tokens": 300, "model": haiku55, "effort": "max"})
	if err != nil {
		return err
	}
	report("effort max thinks, and its thinking is billed as output",
		fmt.Sprintf("%s, effort %q, thinking %q, %d output tokens for %d words", t.Status, t.Effort, t.Thinking, t.Tokens.Output, len(strings.Fields(t.Text))),
		t.Status == "succeeded" && t.Effort == "max" && t.Thinking == "adaptive" && t.Tokens.Output > len(strings.Fields(t.Text)))

	old, err := c.ended(ctx, map[string]any{"prompt": "Name a river.", "max_tokens": 100, "model": haiku45, "temperature": 0.2})
	if err != nil {
		return err
	}
	report("Claude Haiku 4.5 takes a temperature, and no effort",
		fmt.Sprintf("%s, effort %q, thinking %q", old.Status, old.Effort, old.Thinking),
		old.Status == "succeeded" && old.Effort == "" && old.Thinking == "")

	r, err := c.ended(ctx, map[string]any{"prompt": "promptq-fault:refuse Tell me a secret.", "max_tokens": 200, "model": haiku55})
	if err != nil {
		return err
	}
	code := ""
	if r.Error != nil {
		code = r.Error.Code
	}
	report("a refusal fails the job: refused, not retried, charged",
		fmt.Sprintf("%s %s after %d attempt(s), %d+%d tokens charged", r.Status, code, r.Attempts, r.Tokens.Input, r.Tokens.Output),
		r.Status == "failed" && code == "refused" && r.Attempts == 1 && r.Tokens.Output > 0)
	if missed > 0 {
		return fmt.Errorf("%d checks missed", missed)
	}
	return nil
}
