package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	workerapp "github.com/promptq/promptq/internal/app/worker"
	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/loadtest"
	"github.com/promptq/promptq/internal/sqsqueue"
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

// workerChild runs the worker as the dev stack runs it (internal/dev/devstack:
// worker.New on the stand-ins, fed by internal/dev/esm with the stack's
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
		"PROMPTQ_MODEL_PROVIDER":    workerapp.Provider,
		"PROMPTQ_MAX_RECEIVE_COUNT": strconv.Itoa(info.MaxReceiveCount),
	}
	maps.Copy(set, sqsqueue.LaneURLs(info.QueueURLs).Env())
	maps.Copy(set, stackCfg.Quota.Env())
	cfg, err := workerapp.FromEnv(func(k string) string {
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
	db := standin.DynamoDB(info.DynamoDBEndpoint)
	q := standin.SQS(info.SQSEndpoint)
	// The local model, as make dev runs it.
	stackCfg.Provider = devstack.ProviderLocal
	model, err := devstack.NewModel(context.Background(), stackCfg)
	if err != nil {
		return fail(err)
	}
	w, err := workerapp.New(context.Background(), cfg, workerapp.Clients{DynamoDB: db, SQS: q, Model: mc.Wrap(model)}, logger.With("component", "worker"))
	if err != nil {
		return fail(err)
	}
	// Each lane's queue polled as the stack's event source mappings poll
	// them (internal/dev/devstack does the same in-process).
	lanes := cfg.Quota.Split()
	var pollers []*esm.Poller
	for _, lane := range jobs.Lanes {
		p, err := esm.New(q, w.Handle, esm.Options{
			QueueURL:        cfg.QueueURLs[lane],
			FunctionTimeout: stackCfg.WorkerTimeout,
			FunctionName:    "promptq-worker",
			BatchSize:       1,
			Concurrency:     lanes.Of(lane),
			WaitTime:        stackCfg.PollWait,
			ReleaseOnStop:   true,
			Logger:          logger.With("component", "esm", "lane", lane),
		})
		if err != nil {
			return fail(err)
		}
		pollers = append(pollers, p)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() {
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range pollers {
			wg.Go(func() {
				if err := p.Run(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		done <- errors.Join(errs...)
	}()
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
