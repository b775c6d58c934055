package standin

import (
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Backend is what the API, the worker and the operator tools use in AWS,
// on the shared kumo and named for one test: a jobs table, the lanes'
// queues and their dead-letter queue.
type Backend struct {
	Kumo      *KumoServer
	Table     string
	QueueURLs sqsqueue.LaneURLs
	// QueueURL and QueueARN are the interactive lane's queue, where jobs
	// go unless they name another lane.
	QueueURL string
	QueueARN string
	DLQURL   string
}

// NewBackend creates a Backend for tb (the table as dynamo.CreateTable
// makes it, the queues as sqsqueue.CreateLaneQueues with opts), failing tb
// if it cannot.
func NewBackend(tb TB, opts sqsqueue.QueueOptions) Backend {
	tb.Helper()
	ctx := tb.Context()
	k := Kumo(tb)
	b := Backend{Kumo: k, Table: UniqueName(tb)}
	if err := dynamo.CreateTable(ctx, k.DynamoDB, b.Table); err != nil {
		tb.Fatal(err)
	}
	var err error
	if b.QueueURLs, b.DLQURL, err = sqsqueue.CreateLaneQueues(ctx, k.SQS, b.Table, opts); err != nil {
		tb.Fatal(err)
	}
	b.QueueURL = b.QueueURLs[jobs.LaneInteractive]
	if b.QueueARN, err = sqsqueue.QueueARN(ctx, k.SQS, b.QueueURL); err != nil {
		tb.Fatal(err)
	}
	return b
}

// QueueEnv is the lanes' queue URLs as KEY=value lines for a function's
// environment.
func (b Backend) QueueEnv() []string {
	var env []string
	for k, v := range b.QueueURLs.Env() {
		env = append(env, k+"="+v)
	}
	return env
}

// Lanes is the backend's queues, one a lane.
func (b Backend) Lanes() *sqsqueue.Lanes {
	l, err := sqsqueue.NewLanes(b.Kumo.SQS, b.QueueURLs)
	if err != nil {
		panic(err) // NewBackend made every lane's queue
	}
	return l
}

// Store is a job store on the backend's table.
func (b Backend) Store(opts dynamo.Options) *dynamo.Store {
	return dynamo.New(b.Kumo.DynamoDB, b.Table, opts)
}

// Queue is the backend's interactive lane's queue.
func (b Backend) Queue() *sqsqueue.Queue { return sqsqueue.New(b.Kumo.SQS, b.QueueURL) }
