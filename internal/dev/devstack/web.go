package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/promptq/promptq/internal/catalogue"
)

// WebConfig is /config.json, which the web app reads at start: the keys
// the stack writes next to the deployed app, but password_policy, which
// the web app then takes from its own copy of the stack's policy
// (cognito-local does not enforce one).
type WebConfig struct {
	Region          string `json:"region"`
	UserPoolID      string `json:"user_pool_id"`
	ClientID        string `json:"client_id"`
	APIURL          string `json:"api_url"`          // no trailing slash
	CognitoEndpoint string `json:"cognito_endpoint"` // with a trailing slash, as the stack writes it
	// Models is the API's allow-list with each model's name and limits
	// from the catalogue, for the model picker.
	Models []catalogue.Entry `json:"models"`
	// SignUp is who may sign up ("open", "domains" or "invite"), and
	// SignUpDomains the allowed email domains in "domains" mode, as the
	// stack writes them.
	SignUp        string   `json:"sign_up"`
	SignUpDomains []string `json:"sign_up_domains,omitempty"`
	// DefaultModel is the model the API uses when a request names none,
	// so the page can name it before the job's first poll.
	DefaultModel string `json:"default_model,omitempty"`
	// MaxPromptChars is the API's prompt limit (PROMPTQ_MAX_PROMPT_CHARS),
	// which the page counts against before sending.
	MaxPromptChars int `json:"max_prompt_chars,omitempty"`
	// StandIn says the local stand-in answers for every model listed (the
	// model provider is local): the page says so on each job and prices
	// its answers at $0, as GET /usage does. The stack never writes it.
	StandIn bool `json:"stand_in,omitempty"`
}

// SecurityHeadersFile, in web/, defines the response headers of every file
// of the site; the stack reads the same file for CloudFront.
const SecurityHeadersFile = "security-headers.json"

// securityHeaders reads dir's SecurityHeadersFile and fills in the
// origins of the API and of Cognito, which the Content-Security-Policy
// allows the page to call.
func securityHeaders(dir string, cfg WebConfig) (map[string]string, error) {
	file := filepath.Join(dir, SecurityHeadersFile)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var f struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(f.Headers) == 0 {
		return nil, fmt.Errorf("%s: no headers", file)
	}
	r := strings.NewReplacer("{api_origin}", origin(cfg.APIURL), "{cognito_origin}", origin(cfg.CognitoEndpoint))
	out := make(map[string]string, len(f.Headers))
	for k, v := range f.Headers {
		v = r.Replace(v)
		if strings.ContainsAny(v, "{}") {
			return nil, fmt.Errorf("%s: %s has a placeholder other than {api_origin} and {cognito_origin}: %s", file, k, v)
		}
		out[k] = v
	}
	return out, nil
}

// origin is scheme://host[:port] of u.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Scheme + "://" + p.Host
}

// placeholder is the page served while web/ has no index.html yet.
const placeholder = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>promptq dev</title>
<body>
<h1>promptq dev is running</h1>
<p>The web app is not built yet: there is no <code>web/index.html</code> in this checkout.
The API and the user pool are up; <a href="/config.json">/config.json</a> says where.</p>
</body>
</html>
`

// webHandler serves dir statically, cfg at /config.json and, if cognito is
// not nil, the page's Cognito calls at CognitoPath, every answer with the
// headers of dir's SecurityHeadersFile (none while dir has no web app).
// Nothing is cached, so an edit shows on reload; the index and the headers
// are read per request, so a web app that appears while the stack runs is
// served at once.
func webHandler(dir string, cfg WebConfig, cognito http.Handler) http.Handler {
	mux := http.NewServeMux()
	b, _ := json.MarshalIndent(cfg, "", "  ") // plain strings and numbers: cannot fail
	if cognito != nil {
		mux.Handle("POST "+CognitoPath, cognito)
	}
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	})
	files := http.FileServer(http.Dir(dir))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		if excluded(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		if _, err := os.Stat(filepath.Join(dir, "index.html")); errors.Is(err, fs.ErrNotExist) {
			if r.URL.Path != "/" && r.URL.Path != "/index.html" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(placeholder))
			return
		}
		files.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers, err := securityHeaders(dir, cfg)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The placeholder page, before web/ exists.
		case err != nil:
			http.Error(w, "promptq dev: "+err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		mux.ServeHTTP(w, r)
	})
}

// excluded reports the files the stack does not deploy from web/ (its
// asset's Exclude list), so they are not served here either.
func excluded(urlPath string) bool {
	for _, part := range strings.Split(path.Clean("/"+urlPath), "/") {
		switch {
		case part == "node_modules", part == "package.json", part == "package-lock.json",
			strings.HasPrefix(part, "."), strings.Contains(part, ".test."):
			return true
		}
	}
	return false
}
