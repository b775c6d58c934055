package apiclient_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/apiclient"
)

func TestDoSendsTheTokenAndBodyAndReadsTheAnswerWhole(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/generate" || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Idempotency-Key") != "k1" || string(b) != `{"prompt":"hi"}` {
			t.Errorf("got %s %s %v %s", r.Method, r.URL.Path, r.Header, b)
		}
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"job_id":"j1"}`)
	}))
	defer srv.Close()
	c := apiclient.Client{BaseURL: srv.URL}
	res, err := c.Do(t.Context(), http.MethodPost, "/generate", "tok", map[string]string{"Idempotency-Key": "k1"}, []byte(`{"prompt":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ra, ok := res.RetryAfter(); !res.OK() || string(res.Body) != `{"job_id":"j1"}` || !ok || ra != 2*time.Second {
		t.Errorf("answer %d %s, Retry-After %v %v", res.Status, res.Body, ra, ok)
	}
}

func TestAnErrorAnswerIsDecodedOrDescribed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"the API's shape", `{"error":{"code":"invalid_request","message":"prompt is required","field":"prompt","request_id":"r1"}}`, 400, "invalid_request", "prompt"},
		{"a proxy's page", `<html>Bad Gateway</html>`, 502, "bad_gateway", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := apiclient.Response{Status: tc.status, Body: []byte(tc.body)}.Err()
			if e.Status != tc.status || e.Code != tc.code || e.Field != tc.field || e.Message == "" {
				t.Errorf("%+v", e)
			}
		})
	}
}

func TestRetryAfterReadsSecondsAndDates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		ok     bool
		least  time.Duration
	}{
		{"", false, 0},
		{"5", true, 5 * time.Second},
		{"-1", false, 0},
		{"soon", false, 0},
		{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), true, 59 * time.Minute},
	} {
		d, ok := apiclient.Response{Header: http.Header{"Retry-After": {tc.header}}}.RetryAfter()
		if ok != tc.ok || d < tc.least || (!ok && d != 0) {
			t.Errorf("Retry-After %q: %v %v", tc.header, d, ok)
		}
	}
}

// A call without a token sends no Authorization header (make smoke's
// unauthenticated request), not an empty bearer token.
func TestDoWithoutATokenSendsNoAuthorization(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Values("Authorization")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	res, err := (&apiclient.Client{BaseURL: srv.URL}).Do(t.Context(), http.MethodGet, "/jobs", "", nil, nil)
	if err != nil || res.Status != http.StatusUnauthorized || len(got) != 0 {
		t.Errorf("answer %d, %v; Authorization %q, want none", res.Status, err, got)
	}
}
