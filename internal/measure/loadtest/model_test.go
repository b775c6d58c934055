package loadtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

// modelFunc is a worker.Model made of a function.
type modelFunc func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error)

func (f modelFunc) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	return f(ctx, req, onDelta)
}

func TestAPromptCarriesItsKey(t *testing.T) {
	t.Parallel()
	key := loadtest.Key("run1", 3, 17)
	if key != "run1-u03-j0017" {
		t.Errorf("Key = %q", key)
	}
	if got := loadtest.KeyOf(loadtest.Prompt(key, 3, 17)); got != key {
		t.Errorf("KeyOf(Prompt(%q)) = %q", key, got)
	}
	for _, p := range []string{"no key", " [late] key", "[] empty", "[a b] space"} {
		if got := loadtest.KeyOf(p); got != "" {
			t.Errorf("KeyOf(%q) = %q, want none", p, got)
		}
	}
}

func TestModelCallsCountsEachCallAndWritesItDown(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mc := loadtest.NewModelCalls(f)
	boom := &jobs.Error{Kind: jobs.KindUnavailable, Message: "down"}
	m := mc.Wrap(modelFunc(func(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
		if req.Prompt == "[b] fails" {
			return jobs.Progress{}, boom
		}
		onDelta("hi")
		return jobs.Progress{GeneratedText: "hi"}, nil
	}))
	ctx := t.Context()
	for _, p := range []string{"[a] one", "[a] again", "[b] fails"} {
		var got string
		_, err := m.Generate(ctx, jobs.Request{Prompt: p}, func(s string) { got += s })
		if p == "[b] fails" {
			if !errors.Is(err, boom) {
				t.Errorf("%q: err %v, want the model's", p, err)
			}
			continue
		}
		if err != nil || got != "hi" {
			t.Errorf("%q: %q, %v", p, got, err)
		}
	}
	if c := mc.Counts(); c["a"] != 2 || c["b"] != 1 {
		t.Errorf("counts %v", c)
	}
	if o := mc.Outcomes(); o["ok"] != 2 || o[string(jobs.KindUnavailable)] != 1 {
		t.Errorf("outcomes %v", o)
	}
	// A process killed mid-call leaves a call without its end, and maybe
	// half a line.
	if _, err := f.WriteString(`{"event":"call","key":"c","pid":1}` + "\n" + `{"event":"end","ke`); err != nil {
		t.Fatal(err)
	}
	l, err := loadtest.ReadModelCalls(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Calls["a"] != 2 || l.Calls["b"] != 1 || l.Calls["c"] != 1 {
		t.Errorf("calls from the file %v", l.Calls)
	}
	if len(l.Unended) != 1 || l.Unended["c"] != 1 {
		t.Errorf("unended %v, want c once", l.Unended)
	}
	if l.Results["ok"] != 2 {
		t.Errorf("results %v", l.Results)
	}
}

func TestThrottleFailsEveryOtherCallWithoutCallingTheModel(t *testing.T) {
	t.Parallel()
	mc := loadtest.NewModelCalls(nil)
	inner := 0
	m := mc.Wrap(modelFunc(func(context.Context, jobs.Request, func(string)) (jobs.Progress, error) {
		inner++
		return jobs.Progress{}, nil
	}))
	mc.Throttle(time.Hour)
	throttled := 0
	for range 10 {
		_, err := m.Generate(t.Context(), jobs.Request{Prompt: "[k] p"}, func(string) {})
		if errors.Is(err, loadtest.ErrThrottled) {
			if jobs.KindOf(err) != jobs.KindRateLimited {
				t.Errorf("kind %s, want rate limited", jobs.KindOf(err))
			}
			throttled++
		}
	}
	if throttled != 5 || inner != 5 || mc.Counts()["k"] != 10 {
		t.Errorf("throttled %d, inner calls %d, counted %d; want 5, 5, 10", throttled, inner, mc.Counts()["k"])
	}
}
