package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/submit"
)

func benchHandler(b *testing.B) (*httpapi.Handler, *inmem.Store) {
	b.Helper()
	store := inmem.NewStore(inmem.Options{})
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc, err := submit.New(submit.Config{Logger: logger}, submit.Deps{Store: store, Queue: &inmem.Queue{}})
	if err != nil {
		b.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{
		Limits:         jobs.DefaultLimits(),
		AllowedOrigins: []string{webOrigin},
		Logger:         logger,
	}, httpapi.Deps{Store: store, Submit: svc, Auth: testAuth})
	if err != nil {
		b.Fatal(err)
	}
	return h, store
}

// BenchmarkGenerate is the POST /generate path with in-memory store and
// queue: decoding, validation, the access log and JSON out. The real cost in
// AWS is the DynamoDB and SQS round trips, which this leaves out on purpose.
func BenchmarkGenerate(b *testing.B) {
	h, _ := benchHandler(b)
	body := `{"prompt":"` + strings.Repeat("Summarise the following text. ", 60) + `","max_tokens":512,"temperature":0.3}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/generate", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer token-alice")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkGetJob is the polling path: GET /jobs/{id} of a job with 4 KB of
// generated text.
func BenchmarkGetJob(b *testing.B) {
	h, store := benchHandler(b)
	job, _, err := store.Create(b.Context(), jobs.Job{ID: jobs.NewID(), Owner: "alice", Prompt: "p", Model: jobs.DefaultModel, MaxTokens: 10}, "fp")
	if err != nil {
		b.Fatal(err)
	}
	claimed, _ := store.Claim(b.Context(), "alice", job.ID, 60e9)
	_ = store.SaveProgress(b.Context(), "alice", job.ID, claimed.Attempts, jobs.Progress{GeneratedText: strings.Repeat("word ", 800)}, 60e9)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/jobs/"+job.ID, nil)
		r.Header.Set("Authorization", "Bearer token-alice")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
