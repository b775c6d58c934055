package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/dev/inmem"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

// benchStore is what the benchmark needs of a store: the worker's methods,
// and Create to make jobs.
type benchStore interface {
	Create(ctx context.Context, job jobs.Job, fingerprint string) (jobs.Job, bool, error)
	Get(ctx context.Context, owner, id string) (jobs.Job, error)
	Claim(ctx context.Context, owner, id string, lease time.Duration) (jobs.Job, error)
	SaveProgress(ctx context.Context, owner, id string, attempt int, p jobs.Progress, lease time.Duration) error
	Finish(ctx context.Context, owner, id string, attempt int, p jobs.Progress) error
	Fail(ctx context.Context, owner, id string, attempt int, f jobs.Failure) error
	Release(ctx context.Context, owner, id string, attempt int, w jobs.Wait) error
	WatchedUntil(ctx context.Context, owner, id string) (time.Time, error)
	SentBack(ctx context.Context, owner, id string, w jobs.Wait) error
}

// modelLatency is the fixed time the model takes before it answers.
const modelLatency = 200 * time.Millisecond

// BenchmarkBatch10With200msModel handles one SQS batch of 10 messages with
// a model that takes 200 ms per job (the local model with that latency and
// no streaming pace). store=inmem keeps jobs in memory; store=kumo is the
// DynamoDB store on kumo in this process, every claim and finish over HTTP.
// With the default concurrency the batch should take about one model
// latency, not ten; concurrency=1 shows what one-by-one would cost.
//
//	go test -run='^$' -bench=BenchmarkBatch10 ./internal/worker/
func BenchmarkBatch10With200msModel(b *testing.B) {
	cases := []struct {
		store       string
		concurrency int
	}{{"inmem", 10}, {"inmem", 1}, {"kumo", 10}}
	for _, c := range cases {
		concurrency := c.concurrency
		b.Run("store="+c.store+"/concurrency="+strconv.Itoa(concurrency), func(b *testing.B) {
			var store benchStore = inmem.NewStore(inmem.Options{})
			if c.store == "kumo" {
				k := standin.Kumo(b)
				name := standin.UniqueName(b)
				if err := dynamo.CreateTable(b.Context(), k.DynamoDB, name); err != nil {
					b.Fatal(err)
				}
				store = dynamo.New(k.DynamoDB, name, dynamo.Options{})
			}
			model := localmodel.New(localmodel.Options{Latency: modelLatency, TokensPerSecond: 1e6})
			cfg := worker.DefaultConfig()
			cfg.Concurrency = concurrency
			w, err := worker.New(store, &inmem.Queue{}, model, cfg, worker.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var ev events.SQSEvent
				var ids []string
				for n := range 10 {
					j, _, err := store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: "Say something", Model: localmodel.ID, MaxTokens: 20}, "")
					if err != nil {
						b.Fatal(err)
					}
					ids = append(ids, j.ID)
					ev.Records = append(ev.Records, events.SQSMessage{
						MessageId:     fmt.Sprintf("m%d-%d", i, n),
						ReceiptHandle: fmt.Sprintf("rh%d-%d", i, n),
						Body:          fmt.Sprintf(`{"job_id":%q,"owner":%q}`, j.ID, owner),
						Attributes:    map[string]string{"ApproximateReceiveCount": "1"},
					})
				}
				b.StartTimer()
				start := time.Now()
				resp, err := w.Handle(ctx, ev)
				total += time.Since(start)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					b.Fatalf("Handle = %+v, %v", resp, err)
				}
				b.StopTimer()
				for _, id := range ids {
					if j, err := store.Get(ctx, owner, id); err != nil || j.Status != jobs.StatusSucceeded {
						b.Fatalf("job %s: %s, %v", id, j.Status, err)
					}
				}
				b.StartTimer()
			}
			perBatch := total / time.Duration(b.N)
			b.ReportMetric(float64(perBatch)/float64(time.Millisecond), "ms/batch")
			b.ReportMetric(float64(perBatch)/float64(modelLatency), "latencies/batch")
		})
	}
}
