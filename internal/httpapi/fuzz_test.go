package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBatch sends arbitrary bodies to POST /generate/batch: the answer is a
// 202 or a 4xx with the JSON error shape, never a 5xx or a panic, and a
// 4xx leaves nothing stored or queued.
func FuzzBatch(f *testing.F) {
	for _, seed := range []string{
		`{"requests":[{"prompt":"a"},{"prompt":""},{"prompt":"c","idempotency_key":"k"}]}`,
		`{"requests":[{"prompt":"a","idempotency_key":"k"},{"prompt":"b","idempotency_key":"k"}]}`,
		`{"requests":[]}`, `{"requests":null}`, `{"requests":{}}`, `{"requests":[1,"x",null,[]]}`,
		`{"requests":[{"prompt":"a"}],"requests":[]}`, `{}`, `[]`, `{"requests":[{"prompt":"a","max_tokens":1e309}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fx := setup(t)
		r := httptest.NewRequestWithContext(t.Context(), "POST", "/generate/batch", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer token-alice")
		w := httptest.NewRecorder()
		fx.handler.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusAccepted:
		case w.Code >= 400 && w.Code < 500:
			if !strings.Contains(w.Body.String(), `"error":{"code":`) {
				t.Fatalf("4xx without the error shape: %s", w.Body)
			}
			if len(fx.queue.Sent()) != 0 || len(fx.jobsOf(t, "alice")) != 0 {
				t.Fatalf("a %d stored or queued something", w.Code)
			}
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}

// FuzzGenerate does the same for POST /generate.
func FuzzGenerate(f *testing.F) {
	for _, seed := range []string{`{"prompt":"hi"}`, `{"prompt":"hi","n":1}`, `{"prompt":1}`, `{`, ``, `{"prompt":"\u0000"}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fx := setup(t)
		r := httptest.NewRequestWithContext(t.Context(), "POST", "/generate", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer token-alice")
		w := httptest.NewRecorder()
		fx.handler.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusAccepted:
			if len(fx.queue.Sent()) != 1 {
				t.Fatalf("202 but %d messages queued", len(fx.queue.Sent()))
			}
		case w.Code >= 400 && w.Code < 500:
			if len(fx.queue.Sent()) != 0 || len(fx.jobsOf(t, "alice")) != 0 {
				t.Fatalf("a %d stored or queued something", w.Code)
			}
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}
