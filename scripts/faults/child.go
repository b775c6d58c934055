package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/promptq/promptq/internal/devstack"
	"github.com/promptq/promptq/internal/devstack/devinfo"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/esm"
	"github.com/promptq/promptq/internal/loadtest"
	"github.com/promptq/promptq/internal/localmodel"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/standin"
	"github.com/promptq/promptq/internal/worker"
)

// The worker runs in a child process (this binary again, with roleEnv set)
// so that it can be killed while the API and the stand-ins, in the
// driver's process, carry on; as a Lambda instance dies while the queue,
// the table and the API stay.
const (
	roleEnv     = "PROMPTQ_FAULTS_ROLE"
	roleWorker  = "worker"
	startEnv    = "PROMPTQ_FAULTS_START"    // which start of the worker this is: 1, 2, ...
	throttleEnv = "PROMPTQ_FAULTS_THROTTLE" // how long SIGUSR1 throttles the model
	readyLine   = "faults-worker: ready"
)

// Files in the scenario's dir.
func modelCallsPath(dir string) string { return filepath.Join(dir, "model-calls.jsonl") }
func workerLogPath(dir string, start int) string {
	return filepath.Join(dir, fmt.Sprintf("worker-%d.jsonl", start))
}
func stackLogPath(dir string, start int) string {
	return filepath.Join(dir, fmt.Sprintf("stack-%d.jsonl", start))
}

// workerChild runs the worker as the dev stack runs it (internal/devstack:
// worker.New on the stand-ins, fed by internal/esm with the stack's
// batch size, concurrency, timeout and poll), against the stack whose
// dev.json is in PROMPTQ_DEV_DIR, with the model counted into the
// model-calls file and the log in worker-<start>.jsonl. SIGUSR1 throttles
// the model; SIGTERM stops the poller, which gives back the messages it
// holds.
func workerChild(stdout, stderr io.Writer) int {
	dir := os.Getenv("PROMPTQ_DEV_DIR")
	start, err := strconv.Atoi(os.Getenv(startEnv))
	if err != nil || dir == "" {
		fmt.Fprintln(stderr, "faults-worker: PROMPTQ_DEV_DIR and "+startEnv+" must be set")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "faults-worker: %v\n", err)
		return 1
	}
	throttle, err := time.ParseDuration(os.Getenv(throttleEnv))
	if err != nil {
		throttle = time.Minute
	}
	info, err := devinfo.Read(dir)
	if err != nil {
		return fail(err)
	}
	stackCfg, err := devstack.FromEnv(os.Getenv)
	if err != nil {
		return fail(err)
	}
	set := map[string]string{
		"PROMPTQ_TABLE":             info.TableName,
		"PROMPTQ_QUEUE_URL":         info.QueueURL,
		"PROMPTQ_MODEL_PROVIDER":    worker.ProviderLocal,
		"PROMPTQ_MAX_RECEIVE_COUNT": strconv.Itoa(info.MaxReceiveCount),
	}
	cfg, err := worker.LoadConfig(func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return os.Getenv(k)
	})
	if err != nil {
		return fail(err)
	}
	calls, err := os.OpenFile(modelCallsPath(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err)
	}
	defer calls.Close()
	logs, err := os.OpenFile(workerLogPath(dir, start), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err)
	}
	defer logs.Close()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	mc := loadtest.NewModelCalls(calls)
	model := localmodel.New(localmodel.Options{TokensPerSecond: cfg.LocalTokensPerSecond, Latency: cfg.LocalLatency})
	db := standin.DynamoDB(info.DynamoDBEndpoint)
	q := standin.SQS(info.SQSEndpoint)
	w, err := worker.New(dynamo.New(db, cfg.Table, dynamo.Options{}), sqsqueue.New(q, cfg.QueueURL), mc.Wrap(model), cfg, logger.With("component", "worker"))
	if err != nil {
		return fail(err)
	}
	poller, err := esm.New(q, w.Handle, esm.Options{
		QueueURL:        cfg.QueueURL,
		FunctionTimeout: stackCfg.WorkerTimeout,
		FunctionName:    "promptq-worker",
		BatchSize:       stackCfg.BatchSize,
		BatchWindow:     stackCfg.BatchWindow,
		Concurrency:     stackCfg.Batches,
		WaitTime:        stackCfg.PollWait,
		ReleaseOnStop:   true,
		Logger:          logger.With("component", "esm"),
	})
	if err != nil {
		return fail(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- poller.Run(ctx) }()
	fmt.Fprintln(stdout, readyLine)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	for {
		select {
		case <-usr1:
			mc.Throttle(throttle)
			fmt.Fprintf(stdout, "faults-worker: throttling every other model call for %s\n", throttle)
		case err := <-done:
			if err != nil {
				return fail(err)
			}
			return 0
		}
	}
}
