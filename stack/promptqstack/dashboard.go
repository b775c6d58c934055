package promptqstack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/jobmetrics"
	"github.com/promptq/promptq/internal/jobs"
)

// metricsNamespace is where the job metrics (EMF lines of the jobevents
// function) and the log metric filters publish.
const metricsNamespace = jobmetrics.Namespace

// newDashboard is the one CloudWatch dashboard of the pipeline's health,
// top to bottom in the order a job goes: the API, the lanes' queues, the
// worker, the jobs' own metrics, the jobevents function. The README's
// operators section says how to read it. It returns the dashboard's name.
func newDashboard(s awscdk.Stack, src alarmSources) *string {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	opts := func(stat, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(stat), Label: jsii.String(label)}
	}
	graph := func(title string, width float64, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &metrics,
		})
	}
	jobMetric := func(name, stat, label string, dims map[string]*string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricsNamespace), MetricName: jsii.String(name),
			DimensionsMap: &dims, Period: five, Statistic: jsii.String(stat), Label: jsii.String(label),
		})
	}
	// search graphs every series of a metric whatever its dimension values
	// (models, failure codes), which the stack does not know.
	search := func(label, metric string, dims ...string) awscloudwatch.IMetric {
		schema := strings.Join(append([]string{metricsNamespace}, dims...), ",")
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String(fmt.Sprintf(`SEARCH('{%s} MetricName="%s"', 'Sum', 300)`, schema, metric)),
			Label:        jsii.String(label),
			UsingMetrics: &map[string]awscloudwatch.IMetric{},
			Period:       five,
		})
	}

	// Model throttles, counted from the worker's log without touching it:
	// each time the model refuses a job for its quota the worker logs one
	// line with the job's throttle count (and lane) at the top level.
	throttles := awslogs.NewMetricFilter(s, jsii.String("ModelThrottlesFilter"), &awslogs.MetricFilterProps{
		LogGroup:        src.workerLogs,
		FilterPattern:   awslogs.FilterPattern_NumberValue(jsii.String("$.throttles"), jsii.String(">"), jsii.Number(0)),
		MetricNamespace: jsii.String(metricsNamespace),
		MetricName:      jsii.String("ModelThrottles"),
		MetricValue:     jsii.String("1"),
		Dimensions:      &map[string]*string{"Lane": jsii.String("$.lane")},
		Unit:            awscloudwatch.Unit_COUNT,
	})
	_ = throttles

	var depth, age, wait, duration []awscloudwatch.IMetric
	for _, lane := range jobs.Lanes {
		q, l := src.queues[lane], string(lane)
		depth = append(depth, q.MetricApproximateNumberOfMessagesVisible(opts("Maximum", l+" waiting")))
		age = append(age, q.MetricApproximateAgeOfOldestMessage(opts("Maximum", l)))
		dims := map[string]*string{jobmetrics.Lane: jsii.String(l)}
		for _, p := range []string{"p50", "p95"} {
			wait = append(wait, jobMetric(jobmetrics.QueueWait, p, l+" "+p, dims))
			duration = append(duration, jobMetric(jobmetrics.JobDuration, p, l+" "+p, dims))
		}
	}
	depth = append(depth,
		src.dlq.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "dead-letter queue")),
		src.jobEvents.failed.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "events not delivered")))

	worker, events := src.worker, src.jobEvents.fn
	rows := [][]awscloudwatch.IWidget{
		{
			awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
				Markdown: jsii.String("# promptq\nA job's way from top to bottom: API, lanes' queues, worker, the jobs' own metrics, completion events. " +
					"How to read it: the README's *Operators* section."),
				Width: jsii.Number(24), Height: jsii.Number(2),
			}),
		},
		{
			graph("API requests answered 4xx / 5xx", 8,
				src.api.MetricClientError(opts("Sum", "4xx")), src.api.MetricServerError(opts("Sum", "5xx"))),
			graph("API latency (ms)", 8,
				src.api.MetricLatency(opts("p50", "p50")), src.api.MetricLatency(opts("p95", "p95"))),
			graph("Messages waiting (lanes, dead letters, undelivered events)", 8, depth...),
		},
		{
			graph("Oldest message per lane (s)", 8, age...),
			graph("Worker errors, Lambda throttles, model throttles", 8,
				worker.MetricErrors(opts("Sum", "errors")), worker.MetricThrottles(opts("Sum", "Lambda throttles")),
				search("model throttles", "ModelThrottles", "Lane")),
			graph("Worker duration (ms) and concurrency", 8,
				worker.MetricDuration(opts("p50", "duration p50")), worker.MetricDuration(opts("p95", "duration p95")),
				worker.Metric(jsii.String("ConcurrentExecutions"), opts("Maximum", "concurrency"))),
		},
		{
			graph("Queue wait per lane (ms, submission to start)", 8, wait...),
			graph("Job duration per lane (ms, last attempt)", 8, duration...),
			graph("Jobs finished by lane and status", 8, search("", jobmetrics.JobsFinished, jobmetrics.Lane, jobmetrics.Status)),
		},
		{
			graph("Input tokens by model and lane", 8, search("", jobmetrics.InputTokens, jobmetrics.Lane, jobmetrics.Model)),
			graph("Output tokens by model and lane", 8, search("", jobmetrics.OutputTokens, jobmetrics.Lane, jobmetrics.Model)),
			graph("Failed jobs by code", 8, search("", jobmetrics.JobsFailed, jobmetrics.FailureCode, jobmetrics.Lane)),
		},
		{
			graph("Completion events: function errors", 12, events.MetricErrors(opts("Sum", "errors"))),
			graph("Completion events: iterator age (ms)", 12, events.Metric(jsii.String("IteratorAge"), opts("Maximum", "max"))),
		},
	}
	d := awscloudwatch.NewDashboard(s, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(*s.StackName() + "-health"),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets:         &[]*[]awscloudwatch.IWidget{},
	})
	for _, r := range rows {
		d.AddWidgets(r...)
	}
	return d.DashboardName()
}
