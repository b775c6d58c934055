package emf_test

import (
	"os"
	"time"

	"github.com/promptq/promptq/internal/emf"
)

// A job's queue wait, recorded per lane and per lane and model, with the
// job id as a searchable property that is not a dimension.
func ExampleRecord_Encode() {
	err := emf.Record{
		Namespace:  "promptq",
		Time:       time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC),
		Dimensions: map[string]string{"Lane": "bulk", "Model": "m1"},
		Directives: []emf.Directive{{
			Dimensions: [][]string{{"Lane"}, {"Lane", "Model"}},
			Metrics:    []emf.Metric{{Name: "QueueWait", Unit: emf.Milliseconds, Value: 1500}},
		}},
		Properties: map[string]any{"job_id": "0193d6a0-0000-7000-8000-00000000000a"},
	}.Encode(os.Stdout)
	if err != nil {
		panic(err)
	}
	// Output:
	// {"Lane":"bulk","Model":"m1","QueueWait":1500,"_aws":{"Timestamp":1796212800000,"CloudWatchMetrics":[{"Namespace":"promptq","Dimensions":[["Lane"],["Lane","Model"]],"Metrics":[{"Name":"QueueWait","Unit":"Milliseconds"}]}]},"job_id":"0193d6a0-0000-7000-8000-00000000000a"}
}
