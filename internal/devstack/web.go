package devstack

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
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
	// Models is the API's allow-list, for the model picker.
	Models []string `json:"models"`
}

// placeholder is the page served while web/ has no index.html yet.
const placeholder = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>promptq dev</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>promptq dev is running</h1>
<p>The web app is not built yet: there is no <code>web/index.html</code> in this checkout.
The API and the user pool are up; <a href="/config.json">/config.json</a> says where.</p>
</body>
</html>
`

// webHandler serves dir statically, cfg at /config.json and, if cognito is
// not nil, the page's Cognito calls at CognitoPath. Nothing is cached, so
// an edit shows on reload; the index is looked up per request, so a web
// app that appears while the stack runs is served at once.
func webHandler(dir string, cfg WebConfig, cognito http.Handler) http.Handler {
	mux := http.NewServeMux()
	b, _ := json.MarshalIndent(cfg, "", "  ") // plain strings: cannot fail
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
	return mux
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
