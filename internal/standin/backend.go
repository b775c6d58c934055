package standin

import (
	"testing"

	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Backend is what the API, the worker and the operator tools use in AWS,
// on the shared kumo and named for one test: a jobs table and a jobs queue
// with its dead-letter queue.
type Backend struct {
	Kumo     *KumoServer
	Table    string
	QueueURL string
	QueueARN string
	DLQURL   string
}

// NewBackend creates a Backend for tb (the table as dynamo.CreateTable
// makes it, the queues as sqsqueue.CreateQueues with opts), failing tb if
// it cannot.
func NewBackend(tb testing.TB, opts sqsqueue.QueueOptions) Backend {
	tb.Helper()
	ctx := tb.Context()
	k := Kumo(tb)
	b := Backend{Kumo: k, Table: UniqueName(tb)}
	if err := dynamo.CreateTable(ctx, k.DynamoDB, b.Table); err != nil {
		tb.Fatal(err)
	}
	var err error
	if b.QueueURL, b.DLQURL, err = sqsqueue.CreateQueues(ctx, k.SQS, b.Table, opts); err != nil {
		tb.Fatal(err)
	}
	if b.QueueARN, err = sqsqueue.QueueARN(ctx, k.SQS, b.QueueURL); err != nil {
		tb.Fatal(err)
	}
	return b
}

// Store is a job store on the backend's table.
func (b Backend) Store(opts dynamo.Options) *dynamo.Store {
	return dynamo.New(b.Kumo.DynamoDB, b.Table, opts)
}

// Queue is the backend's jobs queue.
func (b Backend) Queue() *sqsqueue.Queue { return sqsqueue.New(b.Kumo.SQS, b.QueueURL) }
