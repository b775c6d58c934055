package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/promptq/promptq/internal/dev/bedrocktest"
)

// streamMarker starts the prompt of a job whose answer the fake model
// streams slowly; every other job is answered at once.
const streamMarker = "[coldstart: stream]"

// firstToken is when a streamed answer starts.
const firstToken = 500 * time.Millisecond

// startModel starts a fake Bedrock endpoint (internal/dev/bedrocktest):
// a job whose prompt starts with streamMarker gets an answer streamed for
// d, after firstToken, at rate deltas (of a word each) a second, as a
// model writes; any other at once.
func startModel(d time.Duration, rate int) (*bedrocktest.Server, func()) {
	tb := &measureTB{}
	srv := bedrocktest.NewServer(tb, func(w *bedrocktest.Response, r *bedrocktest.Request) {
		if !strings.HasPrefix(r.Prompt, streamMarker) {
			w.Answer([]string{"Hello", " from", " the", " fake", " model."}, "end_turn", 20, 5)
			return
		}
		n := max(1, int(d.Seconds()*float64(rate)))
		every := d / time.Duration(n)
		// A model's time to its first token. It also keeps the answer
		// from starting before the client has sent all of its request,
		// which over loopback can break the stream (see
		// bedrocktest.NewClient; the worker's client is Bedrock's own).
		time.Sleep(firstToken)
		tick := time.NewTicker(every)
		defer tick.Stop()
		w.Start()
		for i := range n {
			select {
			case <-w.Context().Done():
				return
			case <-tick.C:
			}
			w.Delta(fmt.Sprintf(" word%d", i%100))
		}
		w.Finish("end_turn", 20, n)
	})
	return srv, tb.close
}

// measureTB is what bedrocktest needs of a test, for a command: errors go
// to stderr, cleanups run at close.
type measureTB struct{ cleanups []func() }

func (*measureTB) Helper()            {}
func (t *measureTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (*measureTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "coldstart: fake model: "+format+"\n", args...)
}

func (t *measureTB) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// streamedJob is one streamed job's invocation.
type streamedJob struct {
	wall, cpu time.Duration
	hwmKiB    int // the bootstrap's VmHWM after it
}

// streamed runs n streamed jobs one after another in one bootstrap under
// aws-lambda-rie (the first is its cold start: the bootstrap's start and
// init count in its CPU time) and reads the bootstrap's CPU time and peak
// memory after each.
func streamed(ctx context.Context, rie, bootstrap string, env []string, event func() []byte, n int) ([]streamedJob, error) {
	em, err := startEmulator(ctx, rie, bootstrap, env)
	if err != nil {
		return nil, err
	}
	defer em.stop()
	var out []streamedJob
	var cpuBefore time.Duration
	pid := 0
	for i := range n {
		start := time.Now()
		body, err := em.invoke(ctx, event())
		if err == nil {
			err = noBatchFailures(body)
		}
		if err != nil {
			return nil, fmt.Errorf("job %d: %w\n%s", i, err, em.out.String())
		}
		wall := time.Since(start)
		if pid == 0 {
			if pid, err = em.bootstrapPID(); err != nil {
				return nil, err
			}
		}
		cpu, err := readCPU("/proc", pid)
		if err != nil {
			return nil, err
		}
		mem, err := readMemory("/proc", pid)
		if err != nil {
			return nil, err
		}
		out = append(out, streamedJob{wall: wall, cpu: cpu - cpuBefore, hwmKiB: mem.HWMKiB})
		cpuBefore = cpu
	}
	if !strings.Contains(em.out.String(), `job succeeded`) {
		return nil, fmt.Errorf("no job succeeded:\n%s", em.out.String())
	}
	return out, nil
}

// vCPUMB is the memory at which Lambda gives a function one full vCPU; it
// gives CPU in proportion to memory below that.
const vCPUMB = 1769

// printStreamed prints each streamed job's CPU time against its wall time,
// and what share of a vCPU each Lambda memory size gives against it.
func printStreamed(w io.Writer, js []streamedJob, d time.Duration, rate int) {
	fmt.Fprintf(w, "\nworker, streamed jobs under aws-lambda-rie: each answer streamed for %s after %s, at %d deltas a second, progress written every second (interactive lane):\n", d, firstToken, rate)
	fmt.Fprintf(w, "  %-10s %10s %12s %14s %14s\n", "job", "wall s", "CPU ms", "CPU / wall", "VmHWM MB")
	var warmCPU, warmWall time.Duration
	hwm := 0
	for i, j := range js {
		name := fmt.Sprintf("warm %d", i)
		if i == 0 {
			name = "cold"
		} else {
			warmCPU += j.cpu
			warmWall += j.wall
		}
		hwm = max(hwm, j.hwmKiB)
		fmt.Fprintf(w, "  %-10s %10.2f %12.0f %13.2f%% %14.1f\n", name, j.wall.Seconds(), ms(j.cpu), 100*j.cpu.Seconds()/j.wall.Seconds(), kib(j.hwmKiB))
	}
	if len(js) < 2 {
		return
	}
	used := warmCPU.Seconds() / warmWall.Seconds()
	// What the cold start adds: the bootstrap's start, its init and its
	// first connections, before and around the first job.
	coldExtra := max(0, js[0].cpu-warmCPU/time.Duration(len(js)-1))
	fmt.Fprintf(w, "  a warm job uses %.2f%% of a vCPU over its life (%.0f ms of CPU a job); the cold start adds %.0f ms of CPU\n",
		100*used, ms(warmCPU)/float64(len(js)-1), ms(coldExtra))
	fmt.Fprintf(w, "  %-8s %12s %24s %30s %10s\n", "memory", "vCPU share", "share / a job's use", "the cold start's CPU at it", "peak fits")
	for _, mb := range []int{128, 256, 512} {
		share := float64(mb) / vCPUMB
		fmt.Fprintf(w, "  %5d MB %11.1f%% %23.1fx %27.0f ms %10v\n", mb, 100*share, share/used,
			coldExtra.Seconds()/share*1000, kib(hwm) < float64(mb)/2)
	}
	fmt.Fprintln(w, "  (Lambda gives a function CPU in proportion to its memory, a full vCPU at 1,769 MB; \"peak fits\": the bootstrap's VmHWM is under half the memory)")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
