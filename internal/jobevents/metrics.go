package jobevents

import (
	"io"

	"github.com/promptq/promptq/internal/emf"
	"github.com/promptq/promptq/internal/jobmetrics"
)

// Names used below, from internal/jobmetrics.
const (
	Namespace          = jobmetrics.Namespace
	MetricQueueWait    = jobmetrics.QueueWait
	MetricJobDuration  = jobmetrics.JobDuration
	MetricInputTokens  = jobmetrics.InputTokens
	MetricOutputTokens = jobmetrics.OutputTokens
	MetricJobsFinished = jobmetrics.JobsFinished
	MetricJobsFailed   = jobmetrics.JobsFailed

	DimLane        = jobmetrics.Lane
	DimModel       = jobmetrics.Model
	DimStatus      = jobmetrics.Status
	DimFailureCode = jobmetrics.FailureCode
)

// writeMetrics writes f's metrics as one EMF line. Dimensions are lane,
// model, status and failure code, all few-valued; never the owner or the
// job id (the job id is a plain property, for finding the line).
func writeMetrics(w io.Writer, f Finished) error {
	dims := map[string]string{
		DimLane:   string(f.Lane),
		DimModel:  f.Model,
		DimStatus: string(f.Status),
	}
	laneModel := [][]string{{DimLane, DimModel}}
	var directives []emf.Directive
	if f.QueueWaitMs != nil {
		// By lane too: percentiles can't be added up across models later.
		directives = append(directives, emf.Directive{
			Dimensions: [][]string{{DimLane}, {DimLane, DimModel}},
			Metrics: []emf.Metric{
				{Name: MetricQueueWait, Unit: emf.Milliseconds, Value: float64(*f.QueueWaitMs)},
				{Name: MetricJobDuration, Unit: emf.Milliseconds, Value: float64(*f.DurationMs)},
			},
		})
	}
	directives = append(directives,
		emf.Directive{Dimensions: laneModel, Metrics: []emf.Metric{
			{Name: MetricInputTokens, Unit: emf.Count, Value: float64(f.Tokens.Input)},
			{Name: MetricOutputTokens, Unit: emf.Count, Value: float64(f.Tokens.Output)},
		}},
		emf.Directive{Dimensions: [][]string{{DimLane, DimStatus}}, Metrics: []emf.Metric{
			{Name: MetricJobsFinished, Unit: emf.Count, Value: 1},
		}},
	)
	if f.ErrorCode != "" {
		dims[DimFailureCode] = f.ErrorCode
		directives = append(directives, emf.Directive{Dimensions: [][]string{{DimLane, DimFailureCode}}, Metrics: []emf.Metric{
			{Name: MetricJobsFailed, Unit: emf.Count, Value: 1},
		}})
	}
	return emf.Record{
		Namespace:  Namespace,
		Time:       f.FinishedAt,
		Dimensions: dims,
		Directives: directives,
		Properties: map[string]any{"job_id": f.JobID},
	}.Encode(w)
}
