// Package emf writes CloudWatch embedded metric format (EMF) records: one
// JSON object per line that CloudWatch Logs turns into metrics when a Lambda
// function writes it to stdout, with no CloudWatch API call and no
// cloudwatch:PutMetricData permission.
//
// The format (CloudWatch user guide, "Specification: Embedded metric
// format") is a JSON object whose "_aws" member holds a Timestamp in epoch
// milliseconds and CloudWatchMetrics, a list of directives. Each directive
// names a Namespace, Dimensions (a list of dimension sets, each a list of at
// most 30 member names) and Metrics (at most 100 definitions of Name and
// Unit). The values of dimensions and metrics are top-level members of the
// same object, which may carry other members as plain log properties.
//
// It is a small encoder rather than a library: the Go EMF libraries found on
// pkg.go.dev are either unmaintained since 2021 (prozz/aws-embedded-metrics-
// golang), need a newer Go than this module (its maintained fork), or are a
// one-person project; the format is a documented JSON shape, and [Record.Encode]
// checks the rules CloudWatch would otherwise silently drop a record for.
package emf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units promptq uses (CloudWatch accepts more).
const (
	Milliseconds Unit = "Milliseconds"
	Count        Unit = "Count"
)

// Limits of the specification.
const (
	maxDimensionsPerSet = 30
	maxMetrics          = 100
	maxNamespace        = 255
)

// Metric is one metric value and how CloudWatch should record it.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
}

// Directive is a group of metrics recorded under the same dimension sets:
// each set makes one CloudWatch metric per metric of the group.
type Directive struct {
	// Dimensions lists dimension sets; each names members of
	// Record.Dimensions. An empty set records the metric with no dimension.
	Dimensions [][]string
	Metrics    []Metric
}

// Record is one EMF log line.
type Record struct {
	Namespace string
	Time      time.Time
	// Dimensions are the dimension values the directives refer to. Keep
	// them few-valued: each distinct combination is a metric billed
	// monthly.
	Dimensions map[string]string
	Directives []Directive
	// Properties are logged with the metrics but are not dimensions:
	// searchable in Logs Insights, free of metric cost.
	Properties map[string]any
}

// Encode writes r as one line of JSON to w. It refuses a record CloudWatch
// would not extract: no namespace, a dimension set naming a dimension that
// has no value, more than 30 dimensions in a set or 100 metrics in a
// directive, two metrics of one name, a name used both for a metric and a
// dimension or property, or a value that is not a finite number.
func (r Record) Encode(w io.Writer) error {
	doc, err := r.document()
	if err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

type metricDef struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit,omitempty"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

func (r Record) document() (map[string]any, error) {
	if r.Namespace == "" || len(r.Namespace) > maxNamespace {
		return nil, fmt.Errorf("emf: namespace %q must have 1 to %d characters", r.Namespace, maxNamespace)
	}
	if r.Time.IsZero() {
		return nil, errors.New("emf: record has no time")
	}
	doc := map[string]any{}
	for k, v := range r.Properties {
		if k == "_aws" {
			return nil, errors.New(`emf: "_aws" is reserved`)
		}
		doc[k] = v
	}
	for k, v := range r.Dimensions {
		if _, ok := doc[k]; ok {
			return nil, fmt.Errorf("emf: %q is both a dimension and a property", k)
		}
		doc[k] = v
	}
	meta := metadata{Timestamp: r.Time.UnixMilli(), CloudWatchMetrics: []directive{}}
	for _, d := range r.Directives {
		if len(d.Metrics) == 0 {
			continue
		}
		if len(d.Metrics) > maxMetrics {
			return nil, fmt.Errorf("emf: %d metrics in one directive, at most %d", len(d.Metrics), maxMetrics)
		}
		out := directive{Namespace: r.Namespace, Dimensions: [][]string{}}
		for _, set := range d.Dimensions {
			if len(set) > maxDimensionsPerSet {
				return nil, fmt.Errorf("emf: dimension set %v has more than %d dimensions", set, maxDimensionsPerSet)
			}
			for _, name := range set {
				if _, ok := r.Dimensions[name]; !ok {
					return nil, fmt.Errorf("emf: dimension %q has no value", name)
				}
			}
			out.Dimensions = append(out.Dimensions, append([]string{}, set...))
		}
		for _, m := range d.Metrics {
			if m.Name == "" {
				return nil, errors.New("emf: metric without a name")
			}
			if _, ok := doc[m.Name]; ok {
				return nil, fmt.Errorf("emf: metric %q is recorded twice or shares its name with a dimension or property", m.Name)
			}
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
				return nil, fmt.Errorf("emf: metric %q has value %v", m.Name, m.Value)
			}
			doc[m.Name] = m.Value
			out.Metrics = append(out.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
		}
		meta.CloudWatchMetrics = append(meta.CloudWatchMetrics, out)
	}
	doc["_aws"] = meta
	return doc, nil
}
