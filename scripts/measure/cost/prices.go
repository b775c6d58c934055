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
	// TokenFactor is the model's tokens for a text Claude Haiku 4.5
	// counts as one (catalogue.Model.Tokenizer): a job's tokens are
	// given in Haiku 4.5's, and billed in the model's. 0 counts as 1.
	TokenFactor float64
}

// withModel is p with the model id's name and token prices from the
// catalogue.
func (p Prices) withModel(id string) (Prices, error) {
	m, ok := catalogue.Lookup(id)
	if !ok || m.Local {
		return p, fmt.Errorf("model %q is not a Bedrock model of the catalogue (internal/catalogue)", id)
	}
	p.Model, p.Tokens, p.TokenFactor = m.Name+" on Bedrock (on-demand)", m.Prices, m.Tokenizer()
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
	if f := p.TokenFactor; f > 0 {
		u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens = f*u.InputTokens, f*u.OutputTokens, f*u.CacheReadTokens, f*u.CacheWriteTokens
	}
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

// targets are each lane's total per job (infrastructure and the model's
// tokens) at most, as a share of the synchronous design's at the same
// model's prices (issue 29): the web app may pay a little more for its
// live text, a batch no more, and the economy lane half.
var targets = map[string]float64{"web app": 1.15, "batch tool": 1.0, "economy lane": 0.5}

// economyLane is the phase whose tokens Bedrock's batch inference bills.
const economyLane = "economy lane"

// tokensOn is what usage u's tokens (counted as Claude Haiku 4.5 counts
// them) cost on model m, at its on-demand or batch price: the same text
// makes m.Tokenizer() times the tokens on another tokenizer.
func tokensOn(m catalogue.Model, u Usage, batch bool) float64 {
	f := m.Tokenizer()
	p, _ := m.PriceFor(int(f * (u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens)))
	if batch {
		p = p.Batch()
	}
	return p.Cost(int(f*u.InputTokens+0.5), int(f*u.OutputTokens+0.5), int(f*u.CacheReadTokens+0.5), int(f*u.CacheWriteTokens+0.5))
}

// writeTargets prints, for each model, each lane's total per 1,000 jobs:
// its measured infrastructure (the same whichever model answers) plus its
// tokens at that model's prices, against the synchronous design's total
// (the last bill's infrastructure, and the same tokens on demand), with the
// target. The first model is the one the targets are met at (the
// default).
func writeTargets(w io.Writer, names []string, bills [][]Line, usage []Usage, models []catalogue.Model) {
	sync := infrastructure(bills[len(bills)-1])
	syncUsage := usage[len(usage)-1]
	fmt.Fprintf(w, "\n  totals per 1,000 jobs, per model (infrastructure as measured; tokens at each model's prices, counting its tokenizer), against the synchronous design's:\n")
	fmt.Fprintf(w, "    %-22s %-14s %12s %14s %10s %8s\n", "model", "lane", "total", "synchronous", "ratio", "target")
	for mi, m := range models {
		syncTotal := sync + tokensOn(m, syncUsage, false)
		for i, name := range names[:len(names)-1] {
			total := infrastructure(bills[i]) + tokensOn(m, usage[i], name == economyLane)
			ratio := total / syncTotal
			target, verdict := "", ""
			if t, ok := targets[name]; ok {
				target = fmt.Sprintf("%.2fx", t)
				verdict = "meets"
				if ratio > t {
					verdict = "MISSES"
				}
				if mi > 0 {
					verdict = "(" + verdict + ")"
				}
			}
			fmt.Fprintf(w, "    %-22s %-14s %12s %14s %9.2fx %8s %s\n", m.Name, name, "$"+dollars(1000*total), "$"+dollars(1000*syncTotal), ratio, target, verdict)
		}
	}
	fmt.Fprintf(w, "  (the targets are met at %s, the default model; the others' verdicts are in brackets)\n", models[0].Name)
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
