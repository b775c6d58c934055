package batch

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress shows the run's counts: a bar redrawn in place on a terminal,
// a plain line every interval otherwise (a log, a CI job), and a summary
// at the end. It writes nothing but counts: no prompts, no text.
type progress struct {
	w        io.Writer
	term     bool
	interval time.Duration
	track    *tracker
	wait     bool
	start    time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

// barRedraw is how often the bar is redrawn on a terminal.
const barRedraw = 200 * time.Millisecond

func startProgress(w io.Writer, term bool, interval time.Duration, t *tracker, wait bool) *progress {
	p := &progress{w: w, term: term, interval: interval, track: t, wait: wait, start: time.Now(), stop: make(chan struct{})}
	every := interval
	if term {
		every = barRedraw
	}
	p.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.show()
			}
		}
	})
	return p
}

func (p *progress) show() {
	c := p.track.snapshot()
	if p.term {
		fmt.Fprintf(p.w, "\r\033[2K%s", barLine(c, p.wait, time.Since(p.start)))
		return
	}
	fmt.Fprintf(p.w, "batch: %s: %s\n", time.Since(p.start).Round(time.Second), countsLine(c))
}

// finish stops the display and prints the summary.
func (p *progress) finish(s Summary) {
	close(p.stop)
	p.wg.Wait()
	if p.term {
		fmt.Fprint(p.w, "\r\033[2K")
	}
	c := s.Counts
	fmt.Fprintf(p.w, "batch: %d lines: %d submitted (%d already existed), %d succeeded, %d failed, %d cancelled, %d still queued or running, %d rejected (%d before sending), %d unsent\n",
		c.Lines, c.Submitted, c.Replayed, c.Succeeded, c.Failed, c.Cancelled, c.Queued+c.Running, c.Rejected+c.Invalid, c.Invalid, c.Unsent)
	perLine := 0.0
	if c.Lines > 0 {
		perLine = float64(s.Calls) / float64(c.Lines)
	}
	fmt.Fprintf(p.w, "batch: tokens %d in, %d out; %d API calls (%.3f a line), %d retries; sent in %s, all in %s\n",
		c.InputTokens, c.OutputTokens, s.Calls, perLine, s.Retries, s.Submitting.Round(time.Millisecond), s.Duration.Round(time.Millisecond))
	if s.Usage != nil {
		s.Usage.print(p.w)
	}
	if s.Results != "" {
		fmt.Fprintf(p.w, "batch: results in %s\n", s.Results)
	}
}

// finished is how many lines need nothing more.
func finished(c Counts, wait bool) int {
	n := c.Invalid + c.Rejected
	if wait {
		return n + c.Succeeded + c.Failed + c.Cancelled
	}
	return n + c.Submitted
}

func countsLine(c Counts) string {
	return fmt.Sprintf("%d/%d lines sent; %d queued, %d running, %d succeeded, %d failed, %d cancelled, %d rejected; tokens %d in, %d out",
		c.Submitted+c.Rejected+c.Invalid, c.Lines, c.Queued, c.Running, c.Succeeded, c.Failed, c.Cancelled, c.Rejected+c.Invalid, c.InputTokens, c.OutputTokens)
}

// barLine is one terminal line: under 80 columns for files of up to
// 10,000 lines, a few more beyond.
func barLine(c Counts, wait bool, elapsed time.Duration) string {
	const width = 12
	done := finished(c, wait)
	filled := 0
	if c.Lines > 0 {
		filled = done * width / c.Lines
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	return fmt.Sprintf("%s %d/%d  sent %d  run %d  ok %d  fail %d  tok %s/%s  %s",
		bar, done, c.Lines, c.Submitted, c.Running, c.Succeeded, c.Failed+c.Cancelled+c.Rejected+c.Invalid,
		short(c.InputTokens), short(c.OutputTokens), clock(elapsed))
}

// short writes n as 950, 12.3k or 4.5M.
func short(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprint(n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	default:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
}

func clock(d time.Duration) string {
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
