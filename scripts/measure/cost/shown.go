package main

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/measure/loadtest"
)

// liveness measures how live the web app's view of a job is: when each
// piece of text the model wrote (a word of the local model) was first in a
// GET /jobs/{id} answer. A piece is known by where its text ends in the
// answer, and a job by its prompt (each job of the web phase has its own).
type liveness struct {
	mu    sync.Mutex
	wrote map[string][]mark // prompt → the text's length after each piece, when the model wrote it
	shown map[string][]mark // prompt → the text's length in a poll's answer, when it first grew
}

type mark struct {
	end int
	at  time.Time
}

func newLiveness() *liveness {
	return &liveness{wrote: map[string][]mark{}, shown: map[string][]mark{}}
}

func (l *liveness) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wrote, l.shown = map[string][]mark{}, map[string][]mark{}
}

// written records that the model's answer to prompt is n bytes long now.
func (l *liveness) written(prompt string, n int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wrote[prompt] = append(l.wrote[prompt], mark{n, at})
}

// polled records a poll's answer (loadtest.Plan.OnPoll).
func (l *liveness) polled(s *loadtest.Submission, at time.Time, j loadtest.JobView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := l.shown[s.Prompt]
	if n := len(j.GeneratedText); len(ms) == 0 || n > ms[len(ms)-1].end {
		l.shown[s.Prompt] = append(ms, mark{n, at})
	}
}

// delays are, for each piece written, how long after it a poll first
// showed it; pieces no poll showed are counted apart.
func (l *liveness) delays() (ds []time.Duration, unseen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for prompt, ws := range l.wrote {
		shown := l.shown[prompt]
		for _, w := range ws {
			i := slices.IndexFunc(shown, func(s mark) bool { return s.end >= w.end })
			if i < 0 {
				unseen++
				continue
			}
			ds = append(ds, max(0, shown[i].at.Sub(w.at)))
		}
	}
	slices.Sort(ds)
	return ds, unseen
}

// print says how long a written word took to be shown.
func (l *liveness) print(w io.Writer) {
	ds, unseen := l.delays()
	if len(ds) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	fmt.Fprintf(w, "  a word written → first in a poll's answer: mean %.2f s, p50 %.2f s, p90 %.2f s, max %.2f s (%d words; %d never shown)\n",
		(sum / time.Duration(len(ds))).Seconds(), loadtest.Percentile(ds, 50).Seconds(), loadtest.Percentile(ds, 90).Seconds(),
		ds[len(ds)-1].Seconds(), len(ds), unseen)
}
