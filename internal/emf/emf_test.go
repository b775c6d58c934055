package emf_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/emf"
)

var at = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func TestEncodeWritesOneLineCloudWatchCanExtract(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := emf.Record{
		Namespace:  "promptq",
		Time:       at,
		Dimensions: map[string]string{"Lane": "bulk", "Model": "m1"},
		Directives: []emf.Directive{
			{Dimensions: [][]string{{"Lane"}, {"Lane", "Model"}}, Metrics: []emf.Metric{{Name: "QueueWait", Unit: emf.Milliseconds, Value: 1500}}},
			{Dimensions: [][]string{{"Lane", "Model"}}, Metrics: []emf.Metric{{Name: "OutputTokens", Unit: emf.Count, Value: 42}}},
			{Dimensions: [][]string{{"Lane"}}}, // no metrics: left out
		},
		Properties: map[string]any{"job_id": "j1"},
	}.Encode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("want exactly one line, got %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Lane": "bulk", "Model": "m1", "job_id": "j1", "QueueWait": 1500.0, "OutputTokens": 42.0,
		"_aws": map[string]any{
			"Timestamp": float64(at.UnixMilli()),
			"CloudWatchMetrics": []any{
				map[string]any{
					"Namespace":  "promptq",
					"Dimensions": []any{[]any{"Lane"}, []any{"Lane", "Model"}},
					"Metrics":    []any{map[string]any{"Name": "QueueWait", "Unit": "Milliseconds"}},
				},
				map[string]any{
					"Namespace":  "promptq",
					"Dimensions": []any{[]any{"Lane", "Model"}},
					"Metrics":    []any{map[string]any{"Name": "OutputTokens", "Unit": "Count"}},
				},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestEncodeRefusesWhatCloudWatchWouldDrop(t *testing.T) {
	t.Parallel()
	ok := func() emf.Record {
		return emf.Record{
			Namespace: "promptq", Time: at,
			Dimensions: map[string]string{"Lane": "bulk"},
			Directives: []emf.Directive{{Dimensions: [][]string{{"Lane"}}, Metrics: []emf.Metric{{Name: "M", Unit: emf.Count, Value: 1}}}},
		}
	}
	tooMany := make([]emf.Metric, 101)
	for i := range tooMany {
		tooMany[i] = emf.Metric{Name: "m" + strings.Repeat("x", i), Value: 1}
	}
	wide := make([]string, 31)
	dims := map[string]string{}
	for i := range wide {
		wide[i] = "d" + strings.Repeat("x", i)
		dims[wide[i]] = "v"
	}
	tests := []struct {
		name   string
		change func(r *emf.Record)
		want   string
	}{
		{"no namespace", func(r *emf.Record) { r.Namespace = "" }, "namespace"},
		{"no time", func(r *emf.Record) { r.Time = time.Time{} }, "no time"},
		{"dimension without a value", func(r *emf.Record) { r.Directives[0].Dimensions = [][]string{{"Model"}} }, `"Model" has no value`},
		{"metric named like a dimension", func(r *emf.Record) { r.Directives[0].Metrics[0].Name = "Lane" }, "shares its name"},
		{"metric recorded twice", func(r *emf.Record) {
			r.Directives = append(r.Directives, r.Directives[0])
		}, "recorded twice"},
		{"property named like a dimension", func(r *emf.Record) { r.Properties = map[string]any{"Lane": "x"} }, "both a dimension and a property"},
		{"reserved property", func(r *emf.Record) { r.Properties = map[string]any{"_aws": 1} }, "reserved"},
		{"NaN", func(r *emf.Record) { r.Directives[0].Metrics[0].Value = math.NaN() }, "value NaN"},
		{"infinity", func(r *emf.Record) { r.Directives[0].Metrics[0].Value = math.Inf(1) }, "value +Inf"},
		{"101 metrics", func(r *emf.Record) { r.Directives[0].Metrics = tooMany }, "101 metrics"},
		{"31 dimensions", func(r *emf.Record) {
			r.Dimensions = dims
			r.Directives[0].Dimensions = [][]string{wide}
		}, "more than 30"},
		{"unnamed metric", func(r *emf.Record) { r.Directives[0].Metrics[0].Name = "" }, "without a name"},
	}
	if err := ok().Encode(&bytes.Buffer{}); err != nil {
		t.Fatalf("the base record must encode: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ok()
			tt.change(&r)
			var buf bytes.Buffer
			err := r.Encode(&buf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("a refused record wrote %q", buf.String())
			}
		})
	}
}
