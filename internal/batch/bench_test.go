package batch

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// benchPrompts is how many lines one benchmark run submits.
const benchPrompts = 1000

// BenchmarkSubmit measures submission throughput: one op is a whole run
// of the tool (read, key, submit, state fsyncs, results) for 1,000
// prompts against the real API handler over HTTP on 127.0.0.1, with the
// job store and queue in memory or on DynamoDB and SQS (kumo, in-process,
// every call over the wire), with the per-user limiter on DynamoDB too.
// Each op is a new user with new keys, so every op creates 1,000 jobs.
// It reports prompts/s and API calls per prompt.
func BenchmarkSubmit(b *testing.B) {
	for _, backend := range []string{"inmem", "kumo"} {
		for _, size := range []int{100, 10} {
			b.Run(fmt.Sprintf("store=%s/batch=%d", backend, size), func(b *testing.B) {
				benchSubmit(b, backend, size)
			})
		}
	}
}

func benchSubmit(b *testing.B, backend string, batchSize int) {
	cfg := httpapi.Config{Limits: jobs.DefaultLimits(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var h *httpapi.Handler
	switch backend {
	case "inmem":
		h = newHandler(b, cfg, inmem.NewStore(inmem.Options{}), &inmem.Queue{}, nil, testAuth)
	case "kumo":
		be := standin.NewBackend(b, sqsqueue.QueueOptions{})
		// The deployed defaults but the per-minute limit, which a
		// benchmark looping as fast as it can would hit by design.
		limiter := dynamo.NewLimiter(be.Kumo.DynamoDB, be.Table, dynamo.Limits{TokensPerDay: 2_000_000, ActiveJobs: 1000}, nil)
		h = newHandler(b, cfg, be.Store(dynamo.Options{}), be.Lanes(), limiter, testAuth)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)

	dir := b.TempDir()
	in := make([]string, benchPrompts)
	for i := range in {
		in[i] = fmt.Sprintf(`{"id": "q%d", "prompt": "Write a haiku about the number %d, with a title and a short note on its form.", "max_tokens": 256}`, i, i)
	}
	input := writeInputB(b, dir, in)

	var calls int64
	var elapsed time.Duration
	n := 0
	for b.Loop() {
		n++
		o := Options{
			Input:      input,
			Output:     filepath.Join(dir, fmt.Sprintf("out-%d.jsonl", n)),
			APIURL:     srv.URL,
			Auth:       staticToken(fmt.Sprintf("token-bench%d", n)),
			HTTPClient: srv.Client(),
			BatchSize:  batchSize,
		}
		start := time.Now()
		sum, err := Run(b.Context(), o)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Submitted != benchPrompts {
			b.Fatalf("%d submitted: %+v", sum.Submitted, sum.Counts)
		}
		calls += sum.Calls
	}
	b.ReportMetric(float64(n*benchPrompts)/elapsed.Seconds(), "prompts/s")
	b.ReportMetric(float64(calls)/float64(n*benchPrompts), "calls/prompt")
}

func writeInputB(b *testing.B, dir string, lines []string) string {
	b.Helper()
	p := filepath.Join(dir, "prompts.jsonl")
	var data []byte
	for _, l := range lines {
		data = append(data, l...)
		data = append(data, '\n')
	}
	if err := writeFileAtomic(p, data); err != nil {
		b.Fatal(err)
	}
	return p
}
