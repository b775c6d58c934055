package main

import (
	"fmt"
	"io"
	"math"

	"github.com/promptq/promptq/internal/catalogue"
)

// Prices are AWS and Bedrock list prices in one region, in dollars. They
// are the author's knowledge of AWS's pricing pages (2025), not fetched:
// verify them before relying on a dollar figure here.
type Prices struct {
	Region string
	AsOf   string

	APIGatewayPerMillion float64 // REST API requests (first 333 million a month)
	LambdaPerGBSecond    float64 // arm64
	LambdaPerMillion     float64 // invocations
	SQSPerMillion        float64 // standard queue requests (each 64 KB of payload is one)
	DynamoDBWritePerM    float64 // on-demand write request units
	DynamoDBReadPerM     float64 // on-demand read request units
	LogsPerGB            float64 // CloudWatch Logs ingestion (standard class)
	S3PutPerThousand     float64 // S3 Standard PUT, COPY, POST, LIST requests
	S3GetPerThousand     float64 // S3 Standard GET and other requests
	// Model is the priced model's name and Tokens its token prices, from
	// the model catalogue (internal/catalogue).
	Model  string
	Tokens catalogue.Prices
}

// withModel is p with the model id's name and token prices from the
// catalogue.
func (p Prices) withModel(id string) (Prices, error) {
	m, ok := catalogue.Lookup(id)
	if !ok || m.Local {
		return p, fmt.Errorf("model %q is not a Bedrock model of the catalogue (internal/catalogue)", id)
	}
	p.Model, p.Tokens = m.Name+" on Bedrock (on-demand)", m.Prices
	return p, nil
}

// usEast1 are us-east-1's list prices, without free tiers.
var usEast1 = Prices{
	Region:               "us-east-1",
	AsOf:                 "list prices as known in 2025; verify on aws.amazon.com/<service>/pricing",
	APIGatewayPerMillion: 3.50,
	LambdaPerGBSecond:    0.0000133334,
	LambdaPerMillion:     0.20,
	SQSPerMillion:        0.40,
	DynamoDBWritePerM:    0.625, // after the November 2024 halving of on-demand prices
	DynamoDBReadPerM:     0.125,
	LogsPerGB:            0.50,
	S3PutPerThousand:     0.005,
	S3GetPerThousand:     0.0004,
}

// Usage is what one job uses, on average.
type Usage struct {
	APIRequests       float64 // API Gateway requests, each one API Lambda invocation
	APIGBSeconds      float64
	WorkerInvocations float64
	WorkerGBSeconds   float64
	// The economy lane's collector and completion functions, and its run
	// files in S3.
	EconomyInvocations float64
	EconomyGBSeconds   float64
	S3PutRequests      float64
	S3GetRequests      float64
	SQSRequests        float64
	ReadUnits          float64
	WriteUnits         float64
	LogBytes           float64
	InputTokens        float64 // not read from or written to the prompt cache
	OutputTokens       float64
	CacheReadTokens    float64
	CacheWriteTokens   float64
}

// Line is one item of a bill.
type Line struct {
	Item     string
	Quantity float64 // per job
	Unit     string
	Dollars  float64 // per job
}

// Bill prices u.
func (p Prices) Bill(u Usage) []Line {
	m := func(n, perMillion float64) float64 { return n * perMillion / 1e6 }
	return []Line{
		{"API Gateway (REST) requests", u.APIRequests, "requests", m(u.APIRequests, p.APIGatewayPerMillion)},
		{"Lambda api: invocations", u.APIRequests, "invocations", m(u.APIRequests, p.LambdaPerMillion)},
		{"Lambda api: compute", u.APIGBSeconds, "GB-s", u.APIGBSeconds * p.LambdaPerGBSecond},
		{"Lambda worker: invocations", u.WorkerInvocations, "invocations", m(u.WorkerInvocations, p.LambdaPerMillion)},
		{"Lambda worker: compute", u.WorkerGBSeconds, "GB-s", u.WorkerGBSeconds * p.LambdaPerGBSecond},
		{"Lambda economy: invocations", u.EconomyInvocations, "invocations", m(u.EconomyInvocations, p.LambdaPerMillion)},
		{"Lambda economy: compute", u.EconomyGBSeconds, "GB-s", u.EconomyGBSeconds * p.LambdaPerGBSecond},
		{"S3 requests (PUT, LIST)", u.S3PutRequests, "requests", u.S3PutRequests * p.S3PutPerThousand / 1e3},
		{"S3 requests (GET)", u.S3GetRequests, "requests", u.S3GetRequests * p.S3GetPerThousand / 1e3},
		{"SQS requests", u.SQSRequests, "requests", m(u.SQSRequests, p.SQSPerMillion)},
		{"DynamoDB reads", u.ReadUnits, "RRU", m(u.ReadUnits, p.DynamoDBReadPerM)},
		{"DynamoDB writes", u.WriteUnits, "WRU", m(u.WriteUnits, p.DynamoDBWritePerM)},
		{"CloudWatch Logs", u.LogBytes / 1e3, "KB", u.LogBytes / 1e9 * p.LogsPerGB},
		{"model input tokens", u.InputTokens, "tokens", m(u.InputTokens, p.Tokens.Input)},
		{"model output tokens", u.OutputTokens, "tokens", m(u.OutputTokens, p.Tokens.Output)},
		{"model cache-read tokens", u.CacheReadTokens, "tokens", m(u.CacheReadTokens, p.Tokens.CacheRead)},
		{"model cache-write tokens", u.CacheWriteTokens, "tokens", m(u.CacheWriteTokens, p.Tokens.CacheWrite)},
	}
}

// infrastructure is the bill without the model's tokens.
func infrastructure(lines []Line) float64 {
	t := 0.0
	for _, l := range lines {
		if l.Unit != "tokens" {
			t += l.Dollars
		}
	}
	return t
}

func total(lines []Line) float64 {
	t := 0.0
	for _, l := range lines {
		t += l.Dollars
	}
	return t
}

// writeBills prints bills side by side, per 1,000 jobs.
func writeBills(w io.Writer, names []string, bills [][]Line) {
	fmt.Fprintf(w, "  %-28s", "per 1,000 jobs")
	for _, n := range names {
		fmt.Fprintf(w, " %26s", n)
	}
	fmt.Fprintln(w)
	for i, l := range bills[0] {
		fmt.Fprintf(w, "  %-28s", l.Item)
		for _, b := range bills {
			fmt.Fprintf(w, " %26s", fmt.Sprintf("%s %s $%s", qty(1000*b[i].Quantity), shortUnit(b[i].Unit), dollars(1000*b[i].Dollars)))
		}
		fmt.Fprintln(w)
	}
	for _, row := range []struct {
		name string
		f    func([]Line) float64
	}{{"infrastructure", infrastructure}, {"total with the model", total}} {
		fmt.Fprintf(w, "  %-28s", row.name)
		for _, b := range bills {
			fmt.Fprintf(w, " %26s", "$"+dollars(1000*row.f(b)))
		}
		fmt.Fprintln(w)
	}
}

// targets are each lane's infrastructure per job at most, as a share of
// the synchronous design's (issue 18): scripts get the cheapest path, the
// web app may pay a little more for its live text.
var targets = map[string]float64{"web app": 1.5, "batch tool": 0.5}

// writeTargets prints each phase's infrastructure against the synchronous
// design's (the last bill) and its target.
func writeTargets(w io.Writer, names []string, bills [][]Line) {
	sync := infrastructure(bills[len(bills)-1])
	fmt.Fprintf(w, "\n  infrastructure against the synchronous design's ($%s per 1,000 jobs):\n", dollars(1000*sync))
	for i, name := range names[:len(names)-1] {
		if _, ok := targets[name]; !ok {
			continue // no target was set for it
		}
		ratio := infrastructure(bills[i]) / sync
		verdict := "meets"
		if ratio > targets[name] {
			verdict = "MISSES"
		}
		fmt.Fprintf(w, "    %-12s %.2fx (target at most %.1fx): %s\n", name, ratio, targets[name], verdict)
	}
}

func shortUnit(u string) string {
	switch u {
	case "requests":
		return "req"
	case "invocations":
		return "inv"
	case "tokens":
		return "tok"
	}
	return u
}

// qty formats a count with 3 significant digits.
func qty(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// dollars formats an amount with 2 significant digits, at least to the
// cent.
func dollars(v float64) string {
	if v == 0 {
		return "0"
	}
	if v >= 0.1 {
		return fmt.Sprintf("%.2f", v)
	}
	digits := int(math.Ceil(-math.Log10(v))) + 1
	return fmt.Sprintf("%.*f", digits, v)
}
