package batch

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
)

// Exit codes of the command (documented in --help).
const (
	ExitOK          = 0   // every line succeeded (or, without --wait, was accepted)
	ExitSomeFailed  = 1   // the run finished; some lines failed, were rejected or stayed unsent
	ExitUsage       = 2   // bad flags, missing settings, an unreadable input
	ExitStopped     = 3   // the run stopped early on an error; re-running resumes
	ExitInterrupted = 130 // Ctrl-C; re-running resumes
)

// Env is how the command reads its environment (os.Getenv in main).
type Env func(string) string

// flags are the command line, before the environment and dev.json fill
// the gaps.
type flags struct {
	output, apiURL, token, username, password            string
	clientID, region, cognitoEndpoint, devConfig, prefix string
	template, systemFile, idColumn, model                string
	schema, schemaName                                   string
	concurrency, batchSize, maxAttempts, retryBudget     int
	maxTokens                                            int
	wait, quiet, economy, economyFallback                bool
	pollInterval, waitTimeout, progressInterval          time.Duration
}

const usageHead = `Usage: batch [flags] INPUT.jsonl
       batch --template PROMPT.tmpl [--system-file SYSTEM.tmpl] [--id-column COL] [--schema-file SCHEMA.json] TABLE.csv|TABLE.jsonl

Submits every request of INPUT.jsonl to promptq's API (POST /generate/batch,
up to 100 a call), optionally waits for the jobs, and writes the results in
input order. Interrupted and run again with the same input and output, it
resumes where it stopped and never creates a job twice.

Input, requests: one JSON object a line; blank lines are skipped.
  {"id": "q1", "prompt": "Name three rivers.", "max_tokens": 200}
  {"prompt": "Summarise this: ...", "system": "Be brief.", "temperature": 0.2, "model": "..."}
  "id" (optional, a string, unique in the file) is echoed in the results.
  The other fields are POST /generate's (docs/openapi.yaml). Lines that are
  plainly invalid (not JSON, no prompt, max_tokens out of range, unknown
  fields) are reported without calling the API; the API's verdict on the
  rest is final.

Input, a table (with --template): a CSV file (.csv) whose first row names
the columns, or a JSONL file of objects, one row a line. The template (Go's
text/template) makes each row's prompt from its fields: {{.review}}, or
{{field . "Review text"}} for a name with spaces. --system-file is the
system prompt's template; --model, --max-tokens apply to every row;
--id-column names the field whose value keys the row (its idempotency key,
as "id" does above), else its line number and content do. A row that lacks
(or has null) a field a template names, or a CSV row with more or fewer
cells than the header, is an error naming the row and the field: every
such row is listed and NOTHING is sent until they are fixed.
  batch --template classify.tmpl --id-column review_id --wait reviews.csv

Input, OpenAI's or Anthropic's batch file, unchanged: a file whose first
JSON line has "custom_id" is one: with "params", Anthropic's Message
Batches input; else OpenAI's Batch API input (url /v1/chat/completions).
Each line's system prompt(s) and one user message of text, max_tokens (or
max_completion_tokens) and temperature are mapped; its model through the
README's table (internal/catalogue's ForeignModels), or --model for every
line. OpenAI's response_format json_schema and Anthropic's output_config
format (or output_format) become the request's response_format.
custom_id keys the line (<prefix>:id:<custom_id>). What promptq
cannot run (tools, images, several choices, streaming, a conversation or
a prefill, JSON mode with no schema, another url)
is refused naming the line and the field, and NOTHING is sent until every
line maps. The results (default INPUT with .results.jsonl) are in the
file's own output shape, in input order; these files always --wait.
  batch --model promptq-local openai-batch.jsonl

Output, for a table (--output, default TABLE with .results.csv or
.results.jsonl): the input rows in input order, one per input row, with
columns (CSV) or fields (JSONL) added: status, generated_text and error
(CSV: "code: message", empty if none; JSONL: {"code","message","field"},
only where there is one). The CSV's cells are written back as read; a
JSONL row's fields keep their text and order. With --schema-file, a CSV
gets a column per top-level property of the schema after those (a string
as its text, anything else as compact JSON), a JSONL row generated_json.

Schema (--schema-file SCHEMA.json, any input): every request asks for
JSON conforming to the JSON schema (response_format, replacing the
file's), checked before anything is sent; a line's result carries
generated_json, the answer's value. --schema-name names it.
  batch --template review.tmpl --schema-file review.schema.json --id-column review_id --wait reviews.csv

Output, for requests (--output, default INPUT with .results.jsonl): one JSON
object per input line, in input order:
  {"id", "line", "job_id", "status", "generated_text", "generated_json", "tokens", "error"}
  status is the job's (queued, running, succeeded, failed, cancelled), or
  "rejected" (invalid, never a job), "unsent" (the API kept failing; a
  re-run sends it) or "missing" (the API no longer has the job). Without
  --wait, jobs are reported as the API accepted them (queued).
  OUTPUT.state is the run's log (fsync'd after every call): which line
  became which job. Keep it to resume; delete both files to start over.

Lanes: the bulk lane by default; --economy sends the file to the economy
lane (Bedrock's batch inference: a lower token price, typically hours),
where the deployment enables it.

Idempotency: every request carries an idempotency key, so a retry or a
re-run gets the original job back instead of a new one:
  a line with an id:    <prefix>:id:<id>   (a hash of the id if it is not
                        printable ASCII or is over 200 bytes)
  a line without one:   <prefix>:line:<line number>:<hash of its fields>
  The API keeps keys for 24 hours; the state file covers longer gaps. Give
  lines ids if you may edit the file between runs: a line without an id
  that moves or changes is a new request. Ids are per user: reusing one
  with another prompt within 24 hours is a conflict (use --key-prefix).

Credentials (flags, else environment, else the dev stack's .local/dev.json):
  --token / PROMPTQ_TOKEN: a Cognito access token, used as is.
  --username / PROMPTQ_USERNAME and PROMPTQ_PASSWORD: the tool logs in
  (USER_PASSWORD_AUTH with --client-id) and refreshes the token by itself.
  Prefer PROMPTQ_PASSWORD to --password: flags are visible to other users.

Examples:
  # against make dev (everything from .local/dev.json), waiting for results
  PROMPTQ_USERNAME=me@example.com PROMPTQ_PASSWORD=... batch --wait prompts.jsonl

  # against a deployed stack, submitting only
  batch --api-url https://abc123.execute-api.us-east-1.amazonaws.com/prod \
        --client-id 1example23456789 --username me@example.com prompts.jsonl

Exit codes:
  0    every line succeeded (with --wait) or was accepted (without)
  1    the run finished, but some lines failed, were rejected or are unsent
  2    usage: bad flags, missing settings, an unreadable input
  3    stopped early on an error (the API kept failing: --retry-budget spent;
       a daily limit; --wait-timeout); re-run to resume. Also when the
       credentials were refused: the message says which settings to change
       before running again
  130  interrupted (Ctrl-C); re-run the same command to resume

Flags (each also accepted with one dash):
`

func newFlagSet(f *flags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.output, "output", "", "results file `path` (default: INPUT with .results.jsonl); its state is kept in PATH.state")
	fs.StringVar(&f.apiURL, "api-url", "", "the API's base `URL` (env PROMPTQ_API_URL, else dev.json api_url), e.g. http://127.0.0.1:8787")
	fs.StringVar(&f.token, "token", "", "a Cognito access `token` to use as is (env PROMPTQ_TOKEN); it is not refreshed")
	fs.StringVar(&f.username, "username", "", "Cognito `user` name or email to log in as (env PROMPTQ_USERNAME)")
	fs.StringVar(&f.password, "password", "", "the user's `password` (env PROMPTQ_PASSWORD, which is safer: flags show in ps)")
	fs.StringVar(&f.clientID, "client-id", "", "the user pool's app client `id` for logging in (env PROMPTQ_CLIENT_ID, else dev.json client_id)")
	fs.StringVar(&f.region, "region", "", "the user pool's AWS `region` (env PROMPTQ_REGION or AWS_REGION, else dev.json region, else from the pool id or API URL)")
	fs.StringVar(&f.cognitoEndpoint, "cognito-endpoint", "", "Cognito `URL` instead of AWS's (env PROMPTQ_COGNITO_ENDPOINT, else dev.json cognito_endpoint), e.g. cognito-local's")
	fs.StringVar(&f.devConfig, "dev-config", "", "the dev stack's settings `file` (default: dev.json in $PROMPTQ_DEV_DIR, else in .local, here or in a parent dir, if there is one)")
	fs.StringVar(&f.template, "template", "", "the prompt template `file` (Go text/template) that makes each row of a table (CSV or JSONL) into a prompt")
	fs.StringVar(&f.systemFile, "system-file", "", "with --template: the system prompt's template `file`, run on each row too")
	fs.StringVar(&f.idColumn, "id-column", "", "with --template: the `column` (field) whose value keys each row: unique, not blank")
	fs.StringVar(&f.model, "model", "", "the `model` of every request, replacing the file's (default: the line's own, mapped for an OpenAI or Anthropic file, else the API's default)")
	fs.StringVar(&f.schema, "schema-file", "", "a JSON schema `file`: every request asks for JSON conforming to it (response_format), which the results carry as generated_json (a table: a column per top-level property)")
	fs.StringVar(&f.schemaName, "schema-name", "", "with --schema-file: the schema's `name`, passed to the model (1 to 64 letters, digits, _ or -)")
	fs.IntVar(&f.maxTokens, "max-tokens", 0, "max_tokens of every request that sets none (`n`; default: the API's)")
	fs.StringVar(&f.prefix, "key-prefix", DefaultKeyPrefix, "first part of every idempotency `key`: change it to submit the same file again as new jobs")
	fs.IntVar(&f.concurrency, "concurrency", DefaultConcurrency, "`n` API calls in flight at once (batches, and polls with --wait)")
	fs.IntVar(&f.batchSize, "batch-size", DefaultBatchSize, "`n` requests per POST /generate/batch call, 1 to 100 (fewer if they pass 5 MiB)")
	fs.BoolVar(&f.economy, "economy", false, "submit on the economy lane: Amazon Bedrock's batch inference at its lower token price, typically within hours (where the deployment enables it)")
	fs.BoolVar(&f.economyFallback, "economy-fallback", false, "with --economy: run a prompt that batch inference fails on the bulk lane instead of failing its job")
	fs.BoolVar(&f.wait, "wait", false, "poll until every job has finished and put the generated text in the results")
	fs.DurationVar(&f.pollInterval, "poll-interval", DefaultPollInterval, "`time` between polling rounds with --wait (a job's Retry-After wins when it is given)")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", 0, "give up waiting after this `time` (exit 3; re-run to go on); 0: no limit")
	fs.IntVar(&f.maxAttempts, "max-attempts", DefaultMaxAttempts, "`n` tries per API call on 5xx, 429 without Retry-After, or network errors (a 429 with Retry-After counts only against --retry-budget)")
	fs.IntVar(&f.retryBudget, "retry-budget", DefaultRetryBudget, "`n` retries the whole run may make before it stops by itself (exit 3); 0: none")
	fs.DurationVar(&f.progressInterval, "progress-interval", DefaultProgressInterval, "`time` between progress lines when stderr is not a terminal")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress, only the summary")
	return fs
}

// Main runs the command with args (without the program name) and returns
// its exit code. stop is cancelled on Ctrl-C; terminal says whether
// stderr is a terminal (for the progress bar).
func Main(stop context.Context, args []string, getenv Env, stderr io.Writer, terminal bool) int {
	stderr = &syncWriter{w: stderr} // progress and the stop notice share it
	var f flags
	fs := newFlagSet(&f, stderr)
	input, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		if !errors.Is(err, errFlagParse) {
			fmt.Fprintf(stderr, "batch: %v\n", err)
		}
		fmt.Fprintln(stderr, "Run batch --help for usage.")
		return ExitUsage
	}
	opts, err := f.options(input, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "batch: %v\nRun batch --help for usage.\n", err)
		return ExitUsage
	}
	opts.Progress = stderr
	opts.Terminal = terminal && !f.quiet
	if f.quiet {
		opts.ProgressInterval = 1<<63 - 1
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-stop.Done():
			fmt.Fprintln(stderr, "\nbatch: stopping: waiting for the calls in flight to answer; their jobs are saved (Ctrl-C again quits at once)")
		case <-done:
		}
	}()
	sum, err := Run(stop, opts)
	close(done)
	var setup *SetupError
	var creds *CredentialsError
	switch {
	case errors.Is(err, ErrInterrupted):
		fmt.Fprintf(stderr, "batch: %v\n", err)
		return ExitInterrupted
	case errors.As(err, &creds):
		// Running the same command again would be refused again: say
		// what to change first.
		fmt.Fprintf(stderr, "batch: stopped: the credentials were refused (%v).\n"+
			"batch: to go on, %s; then run the command again: the state is saved, so no line is sent twice.\n", creds, creds.Fix)
		return ExitStopped
	case errors.As(err, &setup):
		fmt.Fprintf(stderr, "batch: %v\n", err)
		return ExitUsage
	case err != nil:
		fmt.Fprintf(stderr, "batch: stopped: %v\nbatch: the state is saved; re-run the same command to resume.\n", err)
		return ExitStopped
	}
	c := sum.Counts
	ok := c.Invalid+c.Rejected+c.Failed+c.Cancelled+c.Unsent == 0
	if ok {
		return ExitOK
	}
	return ExitSomeFailed
}

var errFlagParse = errors.New("bad flags")

// parseArgs parses flags before and after the input file, so both
// `batch --wait in.jsonl` and `batch in.jsonl --wait` work.
func parseArgs(fs *flag.FlagSet, args []string) (string, error) {
	var inputs []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", err
			}
			return "", errFlagParse // the flag package has said what
		}
		if fs.NArg() == 0 {
			break
		}
		inputs = append(inputs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(inputs) {
	case 0:
		return "", errors.New("name the input file: batch [flags] INPUT.jsonl")
	case 1:
		return inputs[0], nil
	default:
		return "", fmt.Errorf("one input file at a time, not %d", len(inputs))
	}
}

var (
	poolRegion = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-\d+)_`)
	hostRegion = regexp.MustCompile(`\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com$`)
)

// options resolves flags, then the environment, then dev.json.
func (f flags) options(input string, getenv Env) (Options, error) {
	dev, err := loadDevConfig(f.devConfig, getenv)
	if err != nil {
		return Options{}, err
	}
	pick := func(flagValue string, envs []string, devValue string) string {
		if flagValue != "" {
			return flagValue
		}
		for _, e := range envs {
			if v := getenv(e); v != "" {
				return v
			}
		}
		return devValue
	}
	o := Options{
		Input:            input,
		Output:           f.output,
		APIURL:           pick(f.apiURL, []string{"PROMPTQ_API_URL"}, dev.APIURL),
		Concurrency:      f.concurrency,
		BatchSize:        f.batchSize,
		KeyPrefix:        f.prefix,
		Economy:          f.economy,
		EconomyFallback:  f.economyFallback,
		Wait:             f.wait,
		PollInterval:     f.pollInterval,
		WaitTimeout:      f.waitTimeout,
		MaxAttempts:      f.maxAttempts,
		RetryBudget:      f.retryBudget,
		ProgressInterval: f.progressInterval,
		Template:         f.template,
		SystemTemplate:   f.systemFile,
		IDColumn:         f.idColumn,
		Model:            f.model,
		MaxTokens:        f.maxTokens,
		Schema:           f.schema,
		SchemaName:       f.schemaName,
	}
	if o.Output == "" {
		ext := ".results.jsonl"
		if isCSV(input) {
			ext = ".results.csv" // a table's results are a table of the same kind
		}
		o.Output = strings.TrimSuffix(input, filepath.Ext(input)) + ext
	}
	var errs []error
	if o.APIURL == "" {
		errs = append(errs, errors.New("no API URL: pass --api-url, set PROMPTQ_API_URL, or start `make dev`"))
	} else if u, err := url.Parse(o.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--api-url %q is not an http(s) URL", o.APIURL))
	}
	if f.concurrency < 1 {
		errs = append(errs, errors.New("--concurrency must be at least 1"))
	}
	if f.economyFallback && !f.economy {
		errs = append(errs, errors.New("--economy-fallback goes with --economy"))
	}
	if f.batchSize < 1 || f.batchSize > 100 {
		errs = append(errs, errors.New("--batch-size must be from 1 to 100"))
	}
	if f.maxTokens < 0 {
		errs = append(errs, errors.New("--max-tokens must not be negative"))
	}
	if (f.systemFile != "" || f.idColumn != "") && f.template == "" {
		errs = append(errs, errors.New("--system-file and --id-column go with --template"))
	}
	if f.schemaName != "" && f.schema == "" {
		errs = append(errs, errors.New("--schema-name goes with --schema-file"))
	}
	if f.maxAttempts < 1 {
		errs = append(errs, errors.New("--max-attempts must be at least 1"))
	}
	if f.retryBudget < 0 {
		errs = append(errs, errors.New("--retry-budget must not be negative"))
	} else if f.retryBudget == 0 {
		o.RetryBudget = -1 // no retries at all
	}
	if f.prefix == "" || len(f.prefix) > 40 || !printableASCII(f.prefix) {
		errs = append(errs, errors.New("--key-prefix must be 1 to 40 printable ASCII characters"))
	}
	if f.pollInterval <= 0 || f.waitTimeout < 0 || f.progressInterval <= 0 {
		errs = append(errs, errors.New("--poll-interval and --progress-interval must be positive, --wait-timeout not negative"))
	}
	if abs(o.Output) == abs(input) {
		errs = append(errs, errors.New("--output must not be the input file"))
	}

	token := pick(f.token, []string{"PROMPTQ_TOKEN"}, "")
	username := pick(f.username, []string{"PROMPTQ_USERNAME"}, "")
	password := pick(f.password, []string{"PROMPTQ_PASSWORD"}, "")
	switch {
	case token != "" && username != "":
		errs = append(errs, errors.New("give a token or a username, not both"))
	case token != "":
		o.Auth = staticToken(token)
	case username != "":
		clientID := pick(f.clientID, []string{"PROMPTQ_CLIENT_ID"}, dev.ClientID)
		endpoint := pick(f.cognitoEndpoint, []string{"PROMPTQ_COGNITO_ENDPOINT"}, dev.CognitoEndpoint)
		region := pick(f.region, []string{"PROMPTQ_REGION", "AWS_REGION"}, dev.Region)
		if region == "" {
			region = guessRegion(dev.UserPoolID, o.APIURL, endpoint)
		}
		if password == "" {
			errs = append(errs, errors.New("no password: set PROMPTQ_PASSWORD (or --password)"))
		}
		if clientID == "" {
			errs = append(errs, errors.New("no app client id to log in with: pass --client-id or set PROMPTQ_CLIENT_ID"))
		}
		if region == "" {
			errs = append(errs, errors.New("no region for Cognito: pass --region or set AWS_REGION"))
		}
		o.Auth = &cognitoLogin{
			api:      newCognitoClient(region, endpoint),
			clientID: clientID,
			username: username,
			password: password,
			now:      time.Now,
		}
	default:
		errs = append(errs, errors.New("no credentials: set PROMPTQ_USERNAME and PROMPTQ_PASSWORD, or PROMPTQ_TOKEN (or the flags)"))
	}
	return o, errors.Join(errs...)
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// guessRegion finds the region in a user pool id (us-east-1_AbC), an API
// Gateway URL or a Cognito endpoint; "" if none names it.
func guessRegion(poolID, apiURL, endpoint string) string {
	if m := poolRegion.FindStringSubmatch(poolID); m != nil {
		return m[1]
	}
	for _, s := range []string{apiURL, endpoint} {
		if u, err := url.Parse(s); err == nil {
			if m := hostRegion.FindStringSubmatch(u.Hostname()); m != nil {
				return m[1]
			}
		}
	}
	if endpoint != "" {
		return "us-east-1" // a local stand-in takes any region
	}
	return ""
}

// loadDevConfig reads the dev stack's settings (internal/dev/devstack/devinfo):
// path if given (it must exist), else dev.json in $PROMPTQ_DEV_DIR
// (default .local). A relative
// dev dir is looked for in the working directory and its parents, as the
// dev runner takes it relative to the repo root. Missing default files
// are no error: the settings then come from flags or environment.
func loadDevConfig(path string, getenv Env) (devinfo.Info, error) {
	explicit := path != ""
	if !explicit {
		dir := devinfo.Dir(getenv)
		if filepath.IsAbs(dir) {
			path = devinfo.Path(dir)
		} else if wd, err := os.Getwd(); err == nil {
			for d := wd; ; d = filepath.Dir(d) {
				if p := devinfo.Path(filepath.Join(d, dir)); fileExists(p) {
					path = p
					break
				}
				if filepath.Dir(d) == d {
					break
				}
			}
		}
	}
	if path == "" {
		return devinfo.Info{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return devinfo.Info{}, nil
		}
		return devinfo.Info{}, fmt.Errorf("dev config: %w", err)
	}
	var c devinfo.Info
	if err := json.Unmarshal(data, &c); err != nil {
		return devinfo.Info{}, fmt.Errorf("dev config %s: %w", path, err)
	}
	return c, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
