package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// TestMain lets the test binary be the dev stack's kumo child too: a stack
// started in-process re-executes its own binary for that.
func TestMain(m *testing.M) {
	if devstack.IsChild() {
		os.Exit(devstack.Main(nil, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// devStack is a dev stack (internal/dev/devstack, what `make dev` runs) for
// one test, isolated in a temporary dir on free ports, with a fast local
// model: the whole product, API Gateway stand-in, Cognito, DynamoDB, SQS
// and the worker included.
type devStack struct {
	dir  string
	info devinfo.Info
	db   *dynamodb.Client
}

func startDevStack(t *testing.T) *devStack {
	t.Helper()
	standin.RequireTool(t, "node/node_modules/.bin/cognito-local")
	dir := t.TempDir()
	env := map[string]string{
		"PROMPTQ_DEV_DIR":                 dir,
		"PROMPTQ_DEV_WEB_PORT":            "0",
		"PROMPTQ_DEV_API_PORT":            "0",
		"PROMPTQ_DEV_AWS_PORT":            "0",
		"PROMPTQ_DEV_COGNITO_PORT":        "0",
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": "2000",
		"PROMPTQ_LOCAL_LATENCY":           "0s",
		"PROMPTQ_DEV_POLL_WAIT":           "1s",
		"PROMPTQ_MODEL_CONCURRENCY":       "20",
	}
	cfg, err := devstack.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var console strings.Builder
	var mu sync.Mutex
	// The stack's log (a job that failed or waits, a function that timed
	// out) is shown when the test fails: its last lines, and the lines of
	// every job not ended (runContext makes a hang a failure).
	logs := &standin.Buffer{}
	s := devstack.New(cfg, lockedWriter{&mu, &console}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if t.Failed() {
			lines := strings.Split(logs.String(), "\n")
			var notice []string
			for _, l := range lines {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "job waits") {
					notice = append(notice, l)
				}
			}
			t.Logf("the dev stack's last warnings, errors and waits:\n%s", strings.Join(notice[max(0, len(notice)-80):], "\n"))
			t.Logf("its last lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	if err := s.Run(t.Context()); err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("start the dev stack: %v\n%s", err, console.String())
	}
	t.Cleanup(func() { _ = s.Close() })
	info, err := devinfo.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &devStack{dir: dir, info: info, db: standin.DynamoDB(info.DynamoDBEndpoint)}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// newUser signs a user up in the stack's pool and confirms them; it
// returns their email, password and sub.
func (d *devStack) newUser(t *testing.T) (email, password, sub string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	email, password = "batch-"+hex.EncodeToString(b)+"@example.com", "Correct-horse-battery-1"
	c := standin.CognitoClient(d.info.CognitoEndpoint)
	out, err := c.SignUp(t.Context(), &cip.SignUpInput{
		ClientId:       aws.String(d.info.ClientID),
		Username:       aws.String(email),
		Password:       aws.String(password),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AdminConfirmSignUp(t.Context(), &cip.AdminConfirmSignUpInput{
		UserPoolId: aws.String(d.info.UserPoolID), Username: aws.String(email),
	}); err != nil {
		t.Fatal(err)
	}
	return email, password, aws.ToString(out.UserSub)
}

// jobCount counts the user's jobs in DynamoDB itself: those accepted, their
// distinct idempotency keys, and those the API abandoned. An abandoned job
// (failed, enqueue_failed) is one the API stored but could not queue in
// time, under load: it answered 5xx for it and freed its key, so the tool's
// retry rightly creates another. It was never accepted, so it is not a job
// created twice; two accepted jobs with one key would be.
func (d *devStack) jobCount(t *testing.T, sub string) (accepted, keys, abandoned int) {
	t.Helper()
	seen := map[string]bool{}
	p := dynamodb.NewQueryPaginator(d.db, &dynamodb.QueryInput{
		TableName:                 aws.String(d.info.TableName),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :job)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: jobstable.UserKey(sub)}, ":job": &ddbtypes.AttributeValueMemberS{Value: jobstable.JobPrefix}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if c, ok := it["failure_code"].(*ddbtypes.AttributeValueMemberS); ok && c.Value == jobs.FailureEnqueue {
				abandoned++
				continue
			}
			accepted++
			if k, ok := it["idempotency_key"].(*ddbtypes.AttributeValueMemberS); ok {
				seen[k.Value] = true
			}
		}
	}
	if abandoned > 0 {
		t.Logf("the API abandoned %d of the user's jobs it could not queue in time (answered 5xx, key freed)", abandoned)
	}
	return accepted, len(seen), abandoned
}

// devPrompts are n lines for the local model, each with an id.
func devPrompts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"id": "d%d", "prompt": "Prompt %d: write about queues", "max_tokens": 24}`, i, i)
	}
	return out
}

// checkLocalResults checks results of devPrompts(n) lines in input order,
// every one answered by the local model.
func checkLocalResults(t *testing.T, path string, n int) {
	t.Helper()
	res := readResults(t, path)
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	ids := map[string]bool{}
	for i, r := range res {
		if r.Line != i+1 || r.ID != fmt.Sprintf("d%d", i) {
			t.Fatalf("result %d is line %d id %s: not in input order", i, r.Line, r.ID)
		}
		if r.Status != "succeeded" || r.GeneratedText == nil || !strings.HasPrefix(*r.GeneratedText, "[promptq local model") {
			t.Fatalf("line %d: %+v", r.Line, r)
		}
		if r.Tokens == nil || r.Tokens.Output == 0 || r.Tokens.Output > 24 || r.Tokens.Input == 0 {
			t.Fatalf("line %d: tokens %+v", r.Line, r.Tokens)
		}
		if ids[r.JobID] {
			t.Fatalf("job %s answers two lines", r.JobID)
		}
		ids[r.JobID] = true
	}
}

// TestDevStack runs the batch tool against the dev stack: 1,000 prompts
// through the API Gateway stand-in, the worker and the local model; a run
// killed halfway and run again; a file with invalid lines.
func TestDevStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole dev stack")
	}
	d := startDevStack(t)

	t.Run("1000 prompts are submitted, completed and written in input order", func(t *testing.T) {
		email, password, sub := d.newUser(t)
		input := writeInput(t, t.TempDir(), devPrompts(1000)...)
		var out strings.Builder
		// Everything else (API URL, client id, Cognito endpoint) comes
		// from the stack's dev.json.
		code := Main(t.Context(), []string{"--wait", input},
			env("PROMPTQ_DEV_DIR", d.dir, "PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", password), &out, false)
		if code != ExitOK {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		checkLocalResults(t, strings.TrimSuffix(input, ".jsonl")+".results.jsonl", 1000)
		if n, keys, _ := d.jobCount(t, sub); n != 1000 || keys != 1000 {
			t.Errorf("DynamoDB has %d accepted jobs with %d keys for the user, want 1000", n, keys)
		}
		t.Log(out.String())
	})

	t.Run("a run killed halfway and run again creates no job twice", func(t *testing.T) {
		email, password, sub := d.newUser(t)
		bin := buildBatch(t)
		dir := t.TempDir()
		input := writeInput(t, dir, devPrompts(500)...)

		// The first run goes through a proxy that lets 4 batches
		// answer, lets the 5th (from prompt 200 on) reach the API but
		// holds its answer: the API has stored those 50 jobs, the tool
		// has not recorded them. Then the tool is killed with SIGKILL,
		// with no chance to clean up.
		p := newHoldingProxy(t, d.info.APIURL, "Prompt 200:", false)
		cmd := exec.Command(bin, "--api-url", p.srv.URL, "--batch-size", "50", "--concurrency", "1", "--quiet", input)
		cmd.Env = append(os.Environ(), "PROMPTQ_DEV_DIR="+d.dir, "PROMPTQ_USERNAME="+email, "PROMPTQ_PASSWORD="+password)
		var first strings.Builder
		cmd.Stdout, cmd.Stderr = &first, &first
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.held:
		case <-t.Context().Done():
			t.Fatalf("the proxy never held a call:\n%s", first.String())
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		p.release()
		if n, keys, _ := d.jobCount(t, sub); n != 250 || keys != 250 {
			t.Fatalf("after the kill DynamoDB has %d accepted jobs with %d keys, want 250 (5 batches of 50); the held call's answer: %s", n, keys, p.answer)
		}
		recs := 0
		f, err := os.Open(StatePath(strings.TrimSuffix(input, ".jsonl") + ".results.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for sc := bufio.NewScanner(f); sc.Scan(); {
			recs++
		}
		_ = f.Close()
		if recs != 1+200 {
			t.Fatalf("the state has %d lines, want the header and 200 records", recs)
		}

		// The same command again, straight to the API, waiting.
		again := exec.CommandContext(runContext(t), bin, "--batch-size", "50", "--wait", input)
		again.Env = cmd.Env
		out, err := again.CombinedOutput()
		if err != nil {
			t.Fatalf("second run: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "500 submitted (50 already existed)") {
			t.Errorf("the second run should have resent only the held batch, which the API already had:\n%s", out)
		}
		checkLocalResults(t, strings.TrimSuffix(input, ".jsonl")+".results.jsonl", 500)
		if n, keys, _ := d.jobCount(t, sub); n != 500 || keys != 500 {
			t.Errorf("DynamoDB has %d accepted jobs with %d keys for the user, want 500", n, keys)
		}
	})

	t.Run("a CSV table through a template: every row back once, in order; run again, nothing sent", func(t *testing.T) {
		email, password, sub := d.newUser(t)
		dir := t.TempDir()
		var csv strings.Builder
		csv.WriteString("review_id,product,review\n")
		for i := range 120 {
			fmt.Fprintf(&csv, "rv%d,Product %d,\"Review %d: it works, mostly\"\n", i, i%7, i)
		}
		input := writeFile(t, dir, "reviews.csv", csv.String())
		tmpl := writeFile(t, dir, "classify.tmpl", "Is this review of {{.product}} positive or negative?\n\n{{.review}}")
		args := []string{"--template", tmpl, "--id-column", "review_id", "--max-tokens", "16", "--wait", input}
		e := env("PROMPTQ_DEV_DIR", d.dir, "PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", password)
		var out strings.Builder
		if code := Main(runContext(t), args, e, &out, false); code != ExitOK {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		output := filepath.Join(dir, "reviews.results.csv")
		first, err := os.ReadFile(output)
		if err != nil {
			t.Fatal(err)
		}
		rows := tableRows(t, output)
		if len(rows) != 120 {
			t.Fatalf("%d rows, want 120", len(rows))
		}
		for i, r := range rows {
			if r["review_id"] != fmt.Sprintf("rv%d", i) || r["status"] != "succeeded" || !strings.HasPrefix(r["generated_text"], "[promptq local model") || r["error"] != "" {
				t.Fatalf("row %d: %v", i+1, r)
			}
		}
		if n, keys, _ := d.jobCount(t, sub); n != 120 || keys != 120 {
			t.Errorf("DynamoDB has %d accepted jobs with %d keys for the user, want 120", n, keys)
		}

		runAgainSendsNothing(t, args, e, output, first)
		if n, keys, _ := d.jobCount(t, sub); n != 120 || keys != 120 {
			t.Errorf("after the second run DynamoDB has %d accepted jobs with %d keys, want 120", n, keys)
		}
	})

	t.Run("a CSV table with a schema: every row back once, in order, its columns valid against the schema; run again, nothing sent", func(t *testing.T) {
		email, password, sub := d.newUser(t)
		dir := t.TempDir()
		var in strings.Builder
		in.WriteString("review_id,review\n")
		for i := range 100 {
			fmt.Fprintf(&in, "rv%d,\"Review %d: sturdy, but the hinge squeaks\"\n", i, i)
		}
		input := writeFile(t, dir, "reviews.csv", in.String())
		tmpl := writeFile(t, dir, "classify.tmpl", "Classify this review.\n\n{{.review}}")
		schemaFile := writeFile(t, dir, "review.schema.json", reviewSchema)
		args := []string{"--template", tmpl, "--schema-file", schemaFile, "--schema-name", "review", "--id-column", "review_id", "--wait", input}
		e := env("PROMPTQ_DEV_DIR", d.dir, "PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", password)
		var out strings.Builder
		if code := Main(runContext(t), args, e, &out, false); code != ExitOK {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		output := filepath.Join(dir, "reviews.results.csv")
		first, err := os.ReadFile(output)
		if err != nil {
			t.Fatal(err)
		}
		if header, _, _ := strings.Cut(string(first), "\n"); header != "review_id,review,status,generated_text,error,sentiment,topics,summary" {
			t.Errorf("header %s", header)
		}
		schema := compileTestSchema(t, reviewSchema)
		rows := tableRows(t, output)
		if len(rows) != 100 {
			t.Fatalf("%d rows, want 100", len(rows))
		}
		for i, r := range rows {
			if r["review_id"] != fmt.Sprintf("rv%d", i) || r["status"] != "succeeded" || r["error"] != "" {
				t.Fatalf("row %d: %v", i+1, r)
			}
			// The columns are the answer's properties: put back together,
			// they conform to the schema, as the answer itself does.
			var topics []any
			if err := json.Unmarshal([]byte(r["topics"]), &topics); err != nil {
				t.Fatalf("row %d: topics %q: %v", i+1, r["topics"], err)
			}
			for what, v := range map[string]any{
				"the columns": map[string]any{"sentiment": r["sentiment"], "topics": topics, "summary": r["summary"]},
				"the answer":  mustJSON(t, r["generated_text"]),
			} {
				if err := schema.Validate(v); err != nil {
					t.Fatalf("row %d: %s do not conform: %v\n%v", i+1, what, err, r)
				}
			}
		}
		if n, keys, _ := d.jobCount(t, sub); n != 100 || keys != 100 {
			t.Errorf("DynamoDB has %d accepted jobs with %d keys for the user, want 100", n, keys)
		}
		runAgainSendsNothing(t, args, e, output, first)
	})

	for _, format := range []string{"openai", "anthropic"} {
		t.Run(format+"'s batch file, unchanged: every line back once, in order, in its shape; run again, nothing sent", func(t *testing.T) {
			email, password, sub := d.newUser(t)
			dir := t.TempDir()
			// OpenAI's file names its own model, which --model replaces;
			// Anthropic's names the dev stack's, which the table keeps.
			model, args := "gpt-4o-mini", []string{"--model", "promptq-local"}
			if format == "anthropic" {
				model, args = "promptq-local", nil
			}
			input := writeFile(t, dir, format+".jsonl", foreignFile(format, 60, -1, model))
			args = append(args, input) // no --wait: these files always wait
			e := env("PROMPTQ_DEV_DIR", d.dir, "PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", password)
			var out strings.Builder
			if code := Main(runContext(t), args, e, &out, false); code != ExitOK {
				t.Fatalf("exit %d:\n%s", code, out.String())
			}
			output := filepath.Join(dir, format+".results.jsonl")
			first, err := os.ReadFile(output)
			if err != nil {
				t.Fatal(err)
			}
			res := readForeignResults(t, output)
			if len(res) != 60 {
				t.Fatalf("%d results, want 60", len(res))
			}
			for i, r := range res {
				if r.CustomID != fmt.Sprintf("req-%d", i) {
					t.Fatalf("result %d is %s: not in input order", i, r.CustomID)
				}
				checkForeignResult(t, format, r, false, "[promptq local model")
			}
			if n, keys, _ := d.jobCount(t, sub); n != 60 || keys != 60 {
				t.Errorf("DynamoDB has %d accepted jobs with %d keys for the user, want 60", n, keys)
			}
			runAgainSendsNothing(t, args, e, output, first)
		})
	}

	t.Run("invalid lines are reported and the rest done", func(t *testing.T) {
		email, password, sub := d.newUser(t)
		lines := devPrompts(20)
		lines[2] = `{"id": "bad-json", "prompt": "unterminated`
		lines[5] = `{"id": "no-prompt", "max_tokens": 10}`
		lines[9] = `{"id": "big", "prompt": "x", "max_tokens": 100000}`
		lines[13] = `{"id": "model", "prompt": "x", "model": "gpt-4"}`
		lines[17] = `{"id": "long", "prompt": "` + strings.Repeat("y", 100_001) + `"}`
		input := writeInput(t, t.TempDir(), lines...)
		var out strings.Builder
		code := Main(runContext(t), []string{"--wait", input},
			env("PROMPTQ_DEV_DIR", d.dir, "PROMPTQ_USERNAME", email, "PROMPTQ_PASSWORD", password), &out, false)
		if code != ExitSomeFailed {
			t.Fatalf("exit %d, want 1:\n%s", code, out.String())
		}
		wantField := map[int]string{3: "body", 6: "prompt", 10: "max_tokens", 14: "model", 18: "prompt"}
		for _, r := range readResults(t, strings.TrimSuffix(input, ".jsonl")+".results.jsonl") {
			field, bad := wantField[r.Line]
			switch {
			case bad && (r.Status != "rejected" || r.Error == nil || r.Error.Field != field || r.JobID != ""):
				t.Errorf("line %d: %+v, want rejected for %s", r.Line, r, field)
			case !bad && (r.Status != "succeeded" || !strings.HasPrefix(*r.GeneratedText, "[promptq local model")):
				t.Errorf("line %d: %s %+v, want succeeded", r.Line, r.Status, r.Error)
			}
		}
		if n, keys, _ := d.jobCount(t, sub); n != 15 || keys != 15 {
			t.Errorf("DynamoDB has %d accepted jobs with %d keys, want 15", n, keys)
		}
	})
}

// runAgainSendsNothing runs the batch tool with args again and checks
// that it makes no API call and writes the results file output as the
// first run did (first).
func runAgainSendsNothing(t *testing.T, args []string, e Env, output string, first []byte) {
	t.Helper()
	var out strings.Builder
	if code := Main(runContext(t), args, e, &out, false); code != ExitOK {
		t.Fatalf("second run: exit %d:\n%s", code, out.String())
	}
	again, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(first) || !strings.Contains(out.String(), "; 0 API calls") {
		t.Errorf("the second run should call nothing and write the same results:\n%s", out.String())
	}
}

// reviewSchema is the README's worked example's schema.
const reviewSchema = `{
  "type": "object",
  "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
    "topics": {"type": "array", "items": {"type": "string", "enum": ["quality", "price", "delivery", "service", "other"]}},
    "summary": {"type": "string"}
  },
  "required": ["sentiment", "topics", "summary"],
  "additionalProperties": false
}`

// compileTestSchema compiles a schema with the library the service uses.
func compileTestSchema(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("review.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("review.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustJSON decodes JSON text as the schema library reads it.
func mustJSON(t *testing.T, text string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("not JSON: %q: %v", text, err)
	}
	return v
}

// runContext is the context of a short run of the batch tool in a
// dev-stack test (hundreds of jobs at most, two minutes under CI's load): it ends
// after 5 minutes, well within the package's timeout, so a run whose jobs
// never end fails the test with the stack's log instead of a timeout's
// goroutine dump.
func runContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// buildBatch builds scripts/batch into a temporary dir.
func buildBatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "batch")
	cmd := exec.Command("go", "build", "-o", bin, "./scripts/batch")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./scripts/batch: %v\n%s", err, out)
	}
	return bin
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// holdingProxy forwards to the API, but holds the batch calls whose body
// holds marker (a prompt of the batch to hold: counting calls would take a
// retry of an earlier batch for it): it lets the API handle each, then
// holds its answer until release, and delivers it then only if deliver is
// set. A retry of the held batch (the tool's own timeout, under load) is
// held too, so the tool never gets past it.
type holdingProxy struct {
	srv     *httptest.Server
	held    chan struct{} // closed when the first held call's answer is held
	release func()
	answer  string // the held answer's status and body, once held
}

func newHoldingProxy(t *testing.T, target, marker string, deliver bool) *holdingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	gate := make(chan struct{})
	p := &holdingProxy{held: make(chan struct{})}
	var once sync.Once
	p.release = func() { once.Do(func() { close(gate) }) }
	var holding atomic.Bool
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.URL.Path == "/generate/batch" && bytes.Contains(body, []byte(marker)) {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
			if holding.CompareAndSwap(false, true) {
				p.answer = fmt.Sprintf("%d %.500s", rec.Code, rec.Body.String())
				close(p.held)
			}
			<-gate
			if deliver {
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { p.release(); p.srv.Close() })
	return p
}
