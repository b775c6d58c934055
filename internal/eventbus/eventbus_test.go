package eventbus_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/eventbus"
)

var at = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func events(n int) []eventbus.Event {
	evs := make([]eventbus.Event, n)
	for i := range evs {
		evs[i] = eventbus.Event{DetailType: "Job finished", Detail: fmt.Appendf(nil, `{"n":%d}`, i), Time: at}
	}
	return evs
}

// fakeEventBridge answers PutEvents in EventBridge's wire protocol (AWS
// JSON 1.1), refusing the entries refuse chooses, and records what each
// call carried.
type fakeEventBridge struct {
	refuse func(call int, detail string) bool
	mu     sync.Mutex
	calls  [][]string // the details of each call's entries
}

func (f *fakeEventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		return
	}
	var in struct {
		Entries []struct{ Source, DetailType, Detail, EventBusName string }
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	call := len(f.calls)
	var details []string
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	for i, e := range in.Entries {
		details = append(details, e.Detail)
		if e.Source != "promptq" || e.EventBusName != "bus" {
			http.Error(w, "wrong source or bus", http.StatusBadRequest)
			f.mu.Unlock()
			return
		}
		if f.refuse(call, e.Detail) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "InternalFailure", ErrorMessage: "try again"})
		} else {
			out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("id-%d-%d", call, i)})
		}
	}
	f.calls = append(f.calls, details)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func newBus(t *testing.T, f *fakeEventBridge) *eventbus.Bus {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := eventbridge.NewFromConfig(standin.AWSConfig(srv.URL))
	b, err := eventbus.New(client, eventbus.Options{Bus: "bus", Source: "promptq", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutSendsTenEntriesACall(t *testing.T) {
	t.Parallel()
	f := &fakeEventBridge{refuse: func(int, string) bool { return false }}
	n, err := newBus(t, f).Put(t.Context(), events(23))
	if err != nil || n != 23 {
		t.Fatalf("Put = %d, %v; want 23, nil", n, err)
	}
	var sizes []int
	for _, c := range f.calls {
		sizes = append(sizes, len(c))
	}
	if fmt.Sprint(sizes) != "[10 10 3]" {
		t.Errorf("calls carried %v entries, want [10 10 3]", sizes)
	}
}

func TestPutResendsOnlyTheRefusedEntries(t *testing.T) {
	t.Parallel()
	// The first call refuses events 2 and 7; the resend is accepted.
	f := &fakeEventBridge{refuse: func(call int, d string) bool {
		return call == 0 && (d == `{"n":2}` || d == `{"n":7}`)
	}}
	n, err := newBus(t, f).Put(t.Context(), events(10))
	if err != nil || n != 10 {
		t.Fatalf("Put = %d, %v; want 10, nil", n, err)
	}
	if len(f.calls) != 2 || fmt.Sprint(f.calls[1]) != `[{"n":2} {"n":7}]` {
		t.Errorf("calls = %v, want a second call with events 2 and 7 only", f.calls)
	}
}

func TestPutSaysHowManyLeadingEventsAreOnTheBus(t *testing.T) {
	t.Parallel()
	// Event 13 is always refused: 10 in the first call and 11, 12 in the
	// second are on the bus; 14 may be, but the caller must send from 13.
	f := &fakeEventBridge{refuse: func(_ int, d string) bool { return d == `{"n":13}` }}
	n, err := newBus(t, f).Put(t.Context(), events(15))
	if n != 13 {
		t.Errorf("Put = %d, want 13", n)
	}
	if err == nil || !strings.Contains(err.Error(), "InternalFailure") {
		t.Errorf("err = %v, want the entry's error code", err)
	}
	// Three attempts for the refused entry, then no third chunk.
	if len(f.calls) != 4 {
		t.Errorf("%d calls, want 4 (one, then three for the second chunk)", len(f.calls))
	}
}

func TestPutRefusesAnEventTooLargeForEventBridge(t *testing.T) {
	t.Parallel()
	f := &fakeEventBridge{refuse: func(int, string) bool { return false }}
	evs := events(3)
	evs[1].Detail = []byte(`{"x":"` + strings.Repeat("a", eventbus.MaxEntrySize) + `"}`)
	n, err := newBus(t, f).Put(t.Context(), evs)
	if n != 1 || !errors.Is(err, eventbus.ErrTooLarge) {
		t.Errorf("Put = %d, %v; want 1, ErrTooLarge", n, err)
	}
	if len(f.calls) != 1 || len(f.calls[0]) != 1 {
		t.Errorf("calls = %d, want the one event before the large one sent", len(f.calls))
	}
}

// On kumo's EventBridge, events reach the rules that match them: the rule
// docs/configuration.md gives as its example (failed jobs of the bulk lane)
// matches a failed bulk job and nothing else.
func TestPutOnKumoReachesMatchingRules(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	ctx := t.Context()
	client := eventbridge.NewFromConfig(standin.AWSConfig(k.URL))
	busName := standin.UniqueName(t)
	if _, err := client.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(busName)}); err != nil {
		t.Fatal(err)
	}
	pattern := `{"source":["promptq"],"detail-type":["Job finished"],"detail":{"lane":["bulk"],"status":["failed"]}}`
	if _, err := client.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String("failed-bulk"), EventBusName: aws.String(busName), EventPattern: aws.String(pattern),
	}); err != nil {
		t.Fatal(err)
	}
	// An SNS target: kumo delivers to SQS and Lambda targets on a fixed
	// port, but records every match whatever the target.
	target := "arn:aws:sns:us-east-1:000000000000:" + busName
	if _, err := client.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String("failed-bulk"), EventBusName: aws.String(busName),
		Targets: []ebtypes.Target{{Id: aws.String("t"), Arn: aws.String(target)}},
	}); err != nil {
		t.Fatal(err)
	}
	b, err := eventbus.New(client, eventbus.Options{Bus: busName, Source: "promptq"})
	if err != nil {
		t.Fatal(err)
	}
	evs := []eventbus.Event{
		{DetailType: "Job finished", Time: at, Detail: []byte(`{"job_id":"a","lane":"bulk","status":"failed"}`)},
		{DetailType: "Job finished", Time: at, Detail: []byte(`{"job_id":"b","lane":"bulk","status":"succeeded"}`)},
		{DetailType: "Job finished", Time: at, Detail: []byte(`{"job_id":"c","lane":"interactive","status":"failed"}`)},
	}
	if n, err := b.Put(ctx, evs); n != 3 || err != nil {
		t.Fatalf("Put = %d, %v", n, err)
	}

	resp, err := http.Get(k.URL + "/kumo/eventbridge/delivered-events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var delivered []struct{ EventBusName, Detail, Source, DetailType string }
	if err := json.NewDecoder(resp.Body).Decode(&delivered); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range delivered {
		if d.EventBusName == busName {
			got = append(got, d.Source+" "+d.DetailType+" "+d.Detail)
		}
	}
	want := `[promptq Job finished {"job_id":"a","lane":"bulk","status":"failed"}]`
	if fmt.Sprint(got) != want {
		t.Errorf("delivered %v, want %s", got, want)
	}
}
