package jobevents_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/promptq/promptq/internal/eventbus"
	"github.com/promptq/promptq/internal/jobevents"
)

// fakeBus records what is put; PutFunc, when set, decides how many of a
// call's events reach the bus.
type fakeBus struct {
	PutFunc func(evs []eventbus.Event) (int, error)
	put     []eventbus.Event
}

func (b *fakeBus) Put(_ context.Context, evs []eventbus.Event) (int, error) {
	n, err := len(evs), error(nil)
	if b.PutFunc != nil {
		n, err = b.PutFunc(evs)
	}
	b.put = append(b.put, evs[:n]...)
	return n, err
}

type setup struct {
	bus     *fakeBus
	metrics *bytes.Buffer
	h       *jobevents.Handler
}

func newSetup(t *testing.T) setup {
	t.Helper()
	s := setup{bus: &fakeBus{}, metrics: &bytes.Buffer{}}
	s.h = jobevents.New(s.bus, jobevents.Options{
		Metrics: s.metrics,
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// streamEvent is testdata/stream-event.json: what the stream of the jobs
// table hands Lambda for a job created, claimed and finished (A), a bulk job
// cancelled while queued (B), a non-job item, a bulk job failed by the
// model (C), a later write to C, and A's deletion by TTL.
func streamEvent(t *testing.T) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile("testdata/stream-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func details(t *testing.T, evs []eventbus.Event) []jobevents.Finished {
	t.Helper()
	var out []jobevents.Finished
	for _, e := range evs {
		if e.DetailType != jobevents.DetailType {
			t.Errorf("detail type %q", e.DetailType)
		}
		var f jobevents.Finished
		if err := json.Unmarshal(e.Detail, &f); err != nil {
			t.Fatal(err)
		}
		if !e.Time.Equal(f.FinishedAt) {
			t.Errorf("event time %s, want the job's finished_at %s", e.Time, f.FinishedAt)
		}
		out = append(out, f)
	}
	return out
}

func ms(n int64) *int64 { return &n }

func TestHandleAnnouncesEachJobThatEndsOnce(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	resp, err := s.h.Handle(t.Context(), streamEvent(t))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v; want no failures", resp, err)
	}
	got := details(t, s.bus.put)
	var ids []string
	for _, f := range got {
		ids = append(ids, f.JobID[len(f.JobID)-1:]+"="+string(f.Status))
	}
	if strings.Join(ids, " ") != "a=succeeded b=cancelled c=failed" {
		t.Fatalf("announced %v, want a=succeeded b=cancelled c=failed", ids)
	}
	started := time.Date(2026, 12, 2, 10, 0, 2, 0, time.UTC)
	want := jobevents.Finished{
		JobID: "0193d6a0-0000-7000-8000-00000000000a", Owner: "3f1c2b6e-8d4a-4f0e-9c1b-2a7d5e6f8a90",
		Lane: "interactive", Model: "global.anthropic.claude-haiku-4-5-20251001-v1:0", Status: "succeeded",
		StopReason: "end_turn", Attempts: 1,
		CreatedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), StartedAt: &started,
		FinishedAt:  time.Date(2026, 12, 2, 10, 0, 12, 500_000_000, time.UTC),
		QueueWaitMs: ms(2000), DurationMs: ms(10500), TotalMs: 12500,
	}
	want.Tokens.Input, want.Tokens.Output = 120, 800
	if a, _ := json.Marshal(got[0]); string(a) != string(must(json.Marshal(want))) {
		t.Errorf("event of A:\n got %s\nwant %s", a, must(json.Marshal(want)))
	}
	if got[1].StartedAt != nil || got[1].QueueWaitMs != nil || got[1].DurationMs != nil || got[1].TotalMs != 60000 {
		t.Errorf("B was cancelled while queued: want no start, wait or duration, total 60 s; got %+v", got[1])
	}
	if got[2].ErrorCode != "model_error" || got[2].Lane != "bulk" {
		t.Errorf("C: got error code %q lane %q, want model_error, bulk", got[2].ErrorCode, got[2].Lane)
	}
	for _, e := range s.bus.put {
		if bytes.Contains(e.Detail, []byte("SECRET")) {
			t.Errorf("an event carries user or model text: %s", e.Detail)
		}
	}
	if strings.Contains(s.metrics.String(), "SECRET") || strings.Contains(s.metrics.String(), "3f1c2b6e") {
		t.Errorf("metrics carry text or the owner: %s", s.metrics)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// metricLines decodes the EMF lines written.
func metricLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestHandleWritesOneMetricsLinePerJob(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	if _, err := s.h.Handle(t.Context(), streamEvent(t)); err != nil {
		t.Fatal(err)
	}
	lines := metricLines(t, s.metrics)
	if len(lines) != 3 {
		t.Fatalf("%d metric lines, want 3", len(lines))
	}
	a, b, c := lines[0], lines[1], lines[2]
	for name, want := range map[string]any{
		"QueueWait": 2000.0, "JobDuration": 10500.0, "InputTokens": 120.0, "OutputTokens": 800.0,
		"JobsFinished": 1.0, "Lane": "interactive", "Status": "succeeded",
		"Model": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
	} {
		if a[name] != want {
			t.Errorf("A: %s = %v, want %v", name, a[name], want)
		}
	}
	if _, ok := a["JobsFailed"]; ok {
		t.Error("A succeeded but counts as failed")
	}
	if _, ok := b["QueueWait"]; ok {
		t.Error("B never started but has a queue wait")
	}
	if c["JobsFailed"] != 1.0 || c["FailureCode"] != "model_error" {
		t.Errorf("C: JobsFailed %v FailureCode %v", c["JobsFailed"], c["FailureCode"])
	}
	// Every dimension the directives name is few-valued: never the owner
	// or the job id.
	for _, l := range lines {
		for _, d := range l["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
			for _, set := range d.(map[string]any)["Dimensions"].([]any) {
				for _, name := range set.([]any) {
					switch name {
					case "Lane", "Model", "Status", "FailureCode":
					default:
						t.Errorf("dimension %v", name)
					}
				}
			}
		}
	}
}

func TestHandleRetriesFromTheFirstJobNotAnnounced(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ev := streamEvent(t)
	s.bus.PutFunc = func(evs []eventbus.Event) (int, error) {
		return 1, errors.New("put events: entry refused: InternalFailure")
	}
	resp, err := s.h.Handle(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// B's record (the fourth) is where Lambda must resume.
	want := ev.Records[3].Change.SequenceNumber
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != want {
		t.Errorf("failures %+v, want %s", resp.BatchItemFailures, want)
	}
	if n := len(metricLines(t, s.metrics)); n != 1 {
		t.Errorf("%d metric lines, want 1: jobs to be sent again are counted when they are", n)
	}
}

func TestHandleReportsAnUnreadableRecordAfterAnnouncingTheOnesBefore(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ev := streamEvent(t)
	// C's new image with a status no version of promptq writes.
	c := &ev.Records[5]
	c.Change.NewImage["status"] = events.NewStringAttribute("exploded")
	c.Change.NewImage["failure_code"] = events.NewStringAttribute("x")
	bad := c.Change.NewImage
	bad["lane"] = events.NewNumberAttribute("7")
	resp, err := s.h.Handle(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != c.Change.SequenceNumber {
		t.Errorf("failures %+v, want C's record %s", resp.BatchItemFailures, c.Change.SequenceNumber)
	}
	if len(s.bus.put) != 2 {
		t.Errorf("%d events put, want A's and B's", len(s.bus.put))
	}
}

func TestHandleRefusesAStreamWithoutImages(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ev := streamEvent(t)
	ev.Records[2].Change.OldImage = nil
	resp, _ := s.h.Handle(t.Context(), ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[2].Change.SequenceNumber {
		t.Errorf("failures %+v, want the record without images", resp.BatchItemFailures)
	}
}
