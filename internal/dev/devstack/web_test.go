package devstack

import (
	"github.com/promptq/promptq/internal/catalogue"

	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(w.Body)
	return w.Code, string(b)
}

func TestWebServesConfigJSONWithTheStacksKeys(t *testing.T) {
	t.Parallel()
	h := webHandler(t.TempDir(), WebConfig{Region: "us-east-1", UserPoolID: "p", ClientID: "c",
		APIURL: "http://127.0.0.1:1", CognitoEndpoint: "http://127.0.0.1:2/", Models: catalogue.Entries([]string{"m"}),
		SignUp: "domains", SignUpDomains: []string{"example.com"},
		DefaultModel: "m", MaxPromptChars: 100, StandIn: true}, nil)
	code, body := get(t, h, "/config.json")
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil {
		t.Fatalf("GET /config.json: %d %q %v", code, body, err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// web/js/config.js requires the first five; models fills the picker;
	// sign_up and sign_up_domains say who may sign up, as the stack's do;
	// stand_in that the local model answers for every model.
	if want := []string{"api_url", "client_id", "cognito_endpoint", "default_model", "max_prompt_chars", "models", "region", "sign_up", "sign_up_domains", "stand_in", "user_pool_id"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
}

func TestWebServesAPlaceholderUntilTheAppExists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := webHandler(dir, WebConfig{}, nil)
	if code, body := get(t, h, "/"); code != 200 || !strings.Contains(body, "not built yet") {
		t.Errorf("GET / without web/index.html: %d %q", code, body)
	}
	if code, _ := get(t, h, "/js/app.js"); code != 404 {
		t.Errorf("GET /js/app.js without the app: %d, want 404", code)
	}

	// The app appears while the stack runs.
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<title>promptq</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "/"); code != 200 || body != "<title>promptq</title>" {
		t.Errorf("GET / with web/index.html: %d %q", code, body)
	}
}

func TestWebServesOnlyWhatTheStackDeploys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"index.html", "app.js", "package.json", "app.test.js", ".env", "node_modules/x/index.js"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := webHandler(dir, WebConfig{}, nil)
	for path, want := range map[string]int{
		"/app.js": 200, "/package.json": 404, "/app.test.js": 404, "/.env": 404, "/node_modules/x/index.js": 404,
	} {
		if code, _ := get(t, h, path); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
}

func TestWebSendsTheHeadersOfSecurityHeadersJSONWithEveryAnswer(t *testing.T) {
	t.Parallel()
	// The real file: what make dev serves is what the stack deploys.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repoRoot(wd), "web")
	b, err := os.ReadFile(filepath.Join(dir, SecurityHeadersFile))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Headers map[string]string }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	cfg := WebConfig{APIURL: "http://127.0.0.1:8787", CognitoEndpoint: "http://127.0.0.1:8080/cognito/"}
	h := webHandler(dir, cfg, nil)
	for _, path := range []string{"/", "/js/app.js", "/config.json", "/no-such-file"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		for k, v := range f.Headers {
			want := strings.NewReplacer("{api_origin}", "http://127.0.0.1:8787", "{cognito_origin}", "http://127.0.0.1:8080").Replace(v)
			if got := w.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
	if csp := f.Headers["Content-Security-Policy"]; strings.Contains(csp, "unsafe-") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("the policy allows more than the site's own scripts: %s", csp)
	}
}

func TestWebRefusesToServeWithABrokenHeadersFile(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not JSON":            "{",
		"no headers":          `{"headers": {}}`,
		"unknown placeholder": `{"headers": {"Content-Security-Policy": "connect-src {site_origin}"}}`,
	} {
		dir := t.TempDir()
		for f, b := range map[string]string{"index.html": "<title>promptq</title>", SecurityHeadersFile: body} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		code, msg := get(t, webHandler(dir, WebConfig{}, nil), "/")
		if code != http.StatusInternalServerError || !strings.Contains(msg, SecurityHeadersFile) {
			t.Errorf("%s: GET / = %d %q, want a 500 naming the file", name, code, msg)
		}
	}
}
