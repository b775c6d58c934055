package main

import (
	"math"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/catalogue"
)

func TestABillPricesEachItem(t *testing.T) {
	t.Parallel()
	p := Prices{APIGatewayPerMillion: 3.5, LambdaPerGBSecond: 0.00001, LambdaPerMillion: 0.2, SQSPerMillion: 0.4,
		DynamoDBWritePerM: 1, DynamoDBReadPerM: 0.5, LogsPerGB: 0.5, Tokens: catalogue.Prices{Input: 0.8, Output: 4, CacheRead: 0.08, CacheWrite: 1}}
	u := Usage{APIRequests: 10, APIGBSeconds: 0.5, WorkerInvocations: 1, WorkerGBSeconds: 2, SQSRequests: 4,
		ReadUnits: 10, WriteUnits: 8, LogBytes: 2e6, InputTokens: 500, OutputTokens: 500,
		CacheReadTokens: 4000, CacheWriteTokens: 100}
	lines := p.Bill(u)
	want := map[string]float64{
		"API Gateway (REST) requests": 10 * 3.5 / 1e6,
		"Lambda api: invocations":     10 * 0.2 / 1e6,
		"Lambda api: compute":         0.5 * 0.00001,
		"Lambda worker: invocations":  0.2 / 1e6,
		"Lambda worker: compute":      2 * 0.00001,
		"SQS requests":                4 * 0.4 / 1e6,
		"DynamoDB reads":              10 * 0.5 / 1e6,
		"DynamoDB writes":             8 / 1e6,
		"CloudWatch Logs":             2e6 / 1e9 * 0.5,
		"model input tokens":          500 * 0.8 / 1e6,
		"model output tokens":         500 * 4 / 1e6,
		"model cache-read tokens":     4000 * 0.08 / 1e6,
		"model cache-write tokens":    100 * 1.0 / 1e6,
		// No economy lane in this usage: its lines are zero.
		"Lambda economy: invocations": 0,
		"Lambda economy: compute":     0,
		"S3 requests (PUT, LIST)":     0,
		"S3 requests (GET)":           0,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	sum := 0.0
	for _, l := range lines {
		if math.Abs(l.Dollars-want[l.Item]) > 1e-15 {
			t.Errorf("%s: $%g, want $%g", l.Item, l.Dollars, want[l.Item])
		}
		sum += want[l.Item]
	}
	if math.Abs(total(lines)-sum) > 1e-12 {
		t.Errorf("total %g, want %g", total(lines), sum)
	}
	if got, want := infrastructure(lines), sum-(500*0.8+500*4+4000*0.08+100)/1e6; math.Abs(got-want) > 1e-12 {
		t.Errorf("infrastructure %g, want %g", got, want)
	}
}

func TestAmountsAreShownToTwoSignificantDigits(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "0", 2.4: "2.40", 0.0123: "0.012", 0.000456: "0.00046", 0.1: "0.10"} {
		if got := dollars(v); got != want {
			t.Errorf("dollars(%g) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 12.34: "12.3", 1234: "1234", 45678: "45678", 2.5e6: "2.5M"} {
		if got := qty(v); got != want {
			t.Errorf("qty(%g) = %q, want %q", v, got, want)
		}
	}
}

func TestWriteBillsPutsBillsSideBySide(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	u := Usage{APIRequests: 1, OutputTokens: 100}
	writeBills(&b, []string{"async", "sync"}, [][]Line{usEast1.Bill(u), usEast1.Bill(u)})
	out := b.String()
	for _, want := range []string{"per 1,000 jobs", "async", "sync", "API Gateway (REST) requests", "infrastructure", "total with the model"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestTokenPricesComeFromTheCatalogue(t *testing.T) {
	t.Parallel()
	p, err := usEast1.withModel(catalogue.DefaultModel)
	m, _ := catalogue.Lookup(catalogue.DefaultModel)
	if err != nil || p.Tokens != m.Prices || !strings.Contains(p.Model, m.Name) {
		t.Errorf("withModel(default) = %+v, %v", p, err)
	}
	if _, err := usEast1.withModel(catalogue.LocalID); err == nil {
		t.Error("the local stand-in was priced")
	}
}

// The economy lane's lines: its functions' invocations and compute, and
// its run files' S3 requests, each at its price.
func TestBillPricesTheEconomyLanesLines(t *testing.T) {
	u := Usage{EconomyInvocations: 0.02, EconomyGBSeconds: 0.01, S3PutRequests: 0.03, S3GetRequests: 0.02}
	got := map[string]float64{}
	for _, l := range usEast1.Bill(u) {
		got[l.Item] = l.Dollars
	}
	want := map[string]float64{
		"Lambda economy: invocations": 0.02 * usEast1.LambdaPerMillion / 1e6,
		"Lambda economy: compute":     0.01 * usEast1.LambdaPerGBSecond,
		"S3 requests (PUT, LIST)":     0.03 * usEast1.S3PutPerThousand / 1e3,
		"S3 requests (GET)":           0.02 * usEast1.S3GetPerThousand / 1e3,
	}
	for item, d := range want {
		if math.Abs(got[item]-d) > 1e-15 {
			t.Errorf("%s: $%g, want $%g", item, got[item], d)
		}
	}
}
