package batch

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// env is a fake environment.
func env(kv ...string) Env {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestHelpExplainsEveryFlagWithAnExample(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	if code := Main(t.Context(), []string{"--help"}, env(), &out, false); code != ExitOK {
		t.Errorf("exit %d, want 0", code)
	}
	help := out.String()
	var f flags
	newFlagSet(&f, &out).VisitAll(func(fl *flag.Flag) {
		if !strings.Contains(help, "-"+fl.Name) || fl.Usage == "" {
			t.Errorf("--help does not explain -%s", fl.Name)
		}
	})
	for _, want := range []string{"Examples:", "batch --wait prompts.jsonl", "Exit codes:", "130", "PROMPTQ_PASSWORD", "<prefix>:line:"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	input := writeInput(t, dir, `{"prompt":"x"}`)
	creds := env("PROMPTQ_TOKEN", "token-alice", "PROMPTQ_API_URL", "http://127.0.0.1:1")
	tests := []struct {
		name string
		args []string
		env  Env
		want string
	}{
		{"no input", nil, creds, "name the input file"},
		{"two inputs", []string{input, input}, creds, "one input file"},
		{"unknown flag", []string{"--colour", input}, creds, "flag provided but not defined"},
		{"no credentials", []string{input}, env("PROMPTQ_API_URL", "http://x"), "no credentials"},
		{"no API URL", []string{"--dev-config", filepath.Join(dir, "none.json"), input}, env("PROMPTQ_TOKEN", "t"), "dev config"},
		{"no API URL at all", []string{input}, env("PROMPTQ_TOKEN", "t", "PROMPTQ_DEV_DIR", dir), "no API URL"},
		{"bad API URL", []string{"--api-url", "127.0.0.1:8787", input}, env("PROMPTQ_TOKEN", "t"), "not an http(s) URL"},
		{"token and username", []string{"--username", "u", input}, creds, "not both"},
		{"username without password", []string{"--username", "u", "--client-id", "c", input}, env("PROMPTQ_API_URL", "http://x", "AWS_REGION", "eu-west-1"), "no password"},
		{"batch size", []string{"--batch-size", "101", input}, creds, "--batch-size"},
		{"output is the input", []string{"--output", input, input}, creds, "must not be the input"},
		{"missing input", []string{filepath.Join(dir, "missing.jsonl")}, creds, "no such file"},
		{"a system template without a template", []string{"--system-file", input, input}, creds, "go with --template"},
		{"an id column without a template", []string{"--id-column", "id", input}, creds, "go with --template"},
		{"a schema name without a schema", []string{"--schema-name", "review", input}, creds, "--schema-name goes with --schema-file"},
		{"a CSV without a template", []string{writeFile(t, dir, "t.csv", "a\n1\n")}, creds, "give --template"},
		{"a table with a bad row", []string{"--template", writeFile(t, dir, "p.tmpl", "{{.b}}"), writeFile(t, dir, "u.csv", "a\n1\n")}, creds,
			`nothing was sent; fix them and run the same command again:
  line 2: --template names the field "b"`},
		{"negative max tokens", []string{"--max-tokens", "-1", input}, creds, "--max-tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			if code := Main(t.Context(), tt.args, tt.env, &out, false); code != ExitUsage {
				t.Errorf("exit %d, want 2; output:\n%s", code, out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

func TestSettingsComeFromFlagsThenEnvironmentThenDevJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dev := `{"api_url": "http://dev:8787", "client_id": "devclient", "region": "", "cognito_endpoint": "http://127.0.0.1:9229", "user_pool_id": "eu-west-2_abc"}`
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), []byte(dev), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"PROMPTQ_DEV_DIR", dir, "PROMPTQ_USERNAME", "me", "PROMPTQ_PASSWORD", "pw"}
	tests := []struct {
		name       string
		args       []string
		env        []string
		api, cid   string
		region     string
		wantOutput string
	}{
		{"dev.json", nil, nil, "http://dev:8787", "devclient", "eu-west-2", "in.results.jsonl"},
		{"environment", nil, []string{"PROMPTQ_API_URL", "http://env", "PROMPTQ_CLIENT_ID", "envclient", "AWS_REGION", "ap-south-1"}, "http://env", "envclient", "ap-south-1", "in.results.jsonl"},
		{"flags", []string{"--api-url", "https://flag", "--client-id", "flagclient", "--region", "us-west-2", "--output", "o.jsonl"},
			[]string{"PROMPTQ_API_URL", "http://env", "PROMPTQ_CLIENT_ID", "envclient"}, "https://flag", "flagclient", "us-west-2", "o.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f flags
			fs := newFlagSet(&f, &strings.Builder{})
			input, err := parseArgs(fs, append(tt.args, "in.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			o, err := f.options(input, env(append(append([]string{}, base...), tt.env...)...))
			if err != nil {
				t.Fatal(err)
			}
			login, ok := o.Auth.(*cognitoLogin)
			if !ok {
				t.Fatalf("auth %T, want a Cognito login", o.Auth)
			}
			region := login.api.(*cip.Client).Options().Region
			if o.APIURL != tt.api || login.clientID != tt.cid || region != tt.region || o.Output != tt.wantOutput {
				t.Errorf("api %s client %s region %s output %s; want %s %s %s %s", o.APIURL, login.clientID, region, o.Output, tt.api, tt.cid, tt.region, tt.wantOutput)
			}
		})
	}
}

func TestFlagsMayFollowTheInput(t *testing.T) {
	t.Parallel()
	var f flags
	fs := newFlagSet(&f, &strings.Builder{})
	input, err := parseArgs(fs, []string{"--concurrency", "3", "in.jsonl", "--wait", "--batch-size=10"})
	if err != nil || input != "in.jsonl" || !f.wait || f.batchSize != 10 || f.concurrency != 3 {
		t.Errorf("input %q, wait %v, batch %d, concurrency %d, err %v", input, f.wait, f.batchSize, f.concurrency, err)
	}
}

func TestGuessRegion(t *testing.T) {
	t.Parallel()
	tests := []struct{ pool, api, endpoint, want string }{
		{"eu-central-1_AbC", "", "", "eu-central-1"},
		{"", "https://abc123.execute-api.ap-northeast-2.amazonaws.com/prod", "", "ap-northeast-2"},
		{"", "http://127.0.0.1:8787", "https://cognito-idp.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
		{"", "http://127.0.0.1:8787", "http://127.0.0.1:9229", "us-east-1"},
		{"", "https://api.example.com", "", ""},
	}
	for _, tt := range tests {
		if got := guessRegion(tt.pool, tt.api, tt.endpoint); got != tt.want {
			t.Errorf("guessRegion(%q, %q, %q) = %q, want %q", tt.pool, tt.api, tt.endpoint, got, tt.want)
		}
	}
}

func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		args  []string
		want  int
	}{
		{"all succeed", []string{`{"prompt":"a"}`, `{"prompt":"b"}`}, []string{"--wait"}, ExitOK},
		{"accepted without waiting", []string{`{"prompt":"FAIL later"}`}, nil, ExitOK},
		{"a job fails", []string{`{"prompt":"a"}`, `{"prompt":"FAIL"}`}, []string{"--wait"}, ExitSomeFailed},
		{"an invalid line", []string{`{"prompt":"a"}`, `{"prompt":""}`}, nil, ExitSomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			input := writeInput(t, t.TempDir(), tt.lines...)
			var out strings.Builder
			args := append(append([]string{"--api-url", a.srv.URL, "--poll-interval", "1ms"}, tt.args...), input)
			code := Main(t.Context(), args, env("PROMPTQ_TOKEN", "token-alice", "PROMPTQ_DEV_DIR", t.TempDir()), &out, false)
			if code != tt.want {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.want, out.String())
			}
			if strings.Contains(out.String(), "token-alice") {
				t.Errorf("the output shows the token:\n%s", out.String())
			}
			if !strings.Contains(out.String(), "results in ") {
				t.Errorf("no summary:\n%s", out.String())
			}
		})
	}
}

func TestMainInterruptedExitsWith130AndSaysHowToResume(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	input := writeInput(t, t.TempDir(), prompts(10)...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out strings.Builder
	code := Main(ctx, []string{"--api-url", a.srv.URL, input}, env("PROMPTQ_TOKEN", "token-alice", "PROMPTQ_DEV_DIR", t.TempDir()), &out, false)
	if code != ExitInterrupted || !strings.Contains(out.String(), "interrupted; re-run the same command to resume") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}
}

func TestProgressShowsCounts(t *testing.T) {
	t.Parallel()
	c := Counts{Lines: 1000, Submitted: 990, Queued: 400, Running: 90, Succeeded: 480, Failed: 20, Invalid: 10, InputTokens: 12345, OutputTokens: 2_500_000}
	bar := barLine(c, true, 83*time.Second)
	for _, want := range []string{"510/1000", "sent 990", "run 90", "ok 480", "fail 30", "tok 12.3k/2.5M", "1:23", "██████░"} {
		if !strings.Contains(bar, want) {
			t.Errorf("bar %q lacks %q", bar, want)
		}
	}
	if n := len([]rune(bar)); n > 80 {
		t.Errorf("bar is %d columns", n)
	}
	line := countsLine(c)
	for _, want := range []string{"1000/1000 lines sent", "400 queued", "90 running", "480 succeeded", "20 failed", "10 rejected", "tokens 12345 in, 2500000 out"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}

func TestMainSaysTheCredentialsWereRefusedAndWhatToSet(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	input := writeInput(t, t.TempDir(), prompts(3)...)
	var out strings.Builder
	code := Main(t.Context(), []string{"--api-url", a.srv.URL, input},
		env("PROMPTQ_TOKEN", "not-a-token", "PROMPTQ_DEV_DIR", t.TempDir()), &out, false)
	got := out.String()
	if code != ExitStopped {
		t.Errorf("exit %d, want %d", code, ExitStopped)
	}
	for _, want := range []string{"the credentials were refused", "the API refused the access token", "set PROMPTQ_TOKEN", "PROMPTQ_USERNAME and PROMPTQ_PASSWORD"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "re-run the same command to resume") || strings.Contains(got, "not-a-token") {
		t.Errorf("output says to resume as is, or shows the token:\n%s", got)
	}
}
