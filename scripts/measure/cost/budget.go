package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/measure/awscount"
)

// budgetTally counts the DynamoDB calls that reserve and settle budgets
// (internal/dynamo/budget.go, settle.go), by kind, with their units as
// awscount estimates them. They are in the totals too; this says which
// part of them the budgets are.
type budgetTally struct {
	mu    sync.Mutex
	calls map[string]int
	units map[string]awscount.Units
	// all sees every DynamoDB call, so that a transaction's update is
	// estimated at the job's size as last read (awscount.Capacity); a
	// kind's units are what its calls added to it.
	all *awscount.Capacity
}

func newBudgetTally() *budgetTally {
	return &budgetTally{calls: map[string]int{}, units: map[string]awscount.Units{}, all: awscount.NewCapacity()}
}

func (b *budgetTally) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls, b.units = map[string]int{}, map[string]awscount.Units{}
}

func (b *budgetTally) observe(c awscount.Call) {
	if c.Service != "DynamoDB" {
		return
	}
	kind := budgetKind(c.Input)
	b.mu.Lock()
	defer b.mu.Unlock()
	before := b.all.Total()
	b.all.Observe(c)
	if kind == "" {
		return
	}
	after := b.all.Total()
	b.calls[kind]++
	u := b.units[kind]
	u.Read += after.Read - before.Read
	u.Write += after.Write - before.Write
	b.units[kind] = u
}

// budgetKind names the budget work a DynamoDB call does, or "".
func budgetKind(in any) string {
	switch in := in.(type) {
	case *dynamodb.TransactWriteItemsInput:
		counters, job := false, ""
		for _, it := range in.TransactItems {
			if it.Update == nil {
				continue
			}
			sk := keyS(it.Update.Key, jobstable.SortKey)
			switch {
			case strings.HasPrefix(sk, jobstable.TokensPrefix), sk == jobstable.ActiveJobsKey:
				counters = true
			case strings.HasPrefix(sk, jobstable.JobPrefix):
				job = *it.Update.UpdateExpression
			}
		}
		settles, charges := strings.Contains(job, "#settled"), strings.Contains(job, "#charged_attempt")
		switch {
		case !counters:
			return ""
		case job == "":
			return "reserve (or give back)"
		case settles && charges:
			return "settle, charging the ending attempt"
		case charges:
			return "charge an attempt"
		default:
			return "settle: the end's transition with its counters"
		}
	case *dynamodb.BatchGetItemInput:
		for _, ka := range in.RequestItems {
			for _, k := range ka.Keys {
				if strings.HasPrefix(keyS(k, jobstable.SortKey), jobstable.LimitPrefix) {
					return "usage (GET /usage)"
				}
			}
		}
	}
	return ""
}

func keyS(key map[string]types.AttributeValue, name string) string {
	if v, ok := key[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (b *budgetTally) print(w io.Writer, jobs float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kinds := make([]string, 0, len(b.calls))
	for k := range b.calls {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintln(w, "  of which budgets (TransactWriteItems and BatchGetItem by kind; each settlement also reads the job first, a GetItem):")
	for _, k := range kinds {
		u := b.units[k]
		fmt.Fprintf(w, "    %-48s %5.2f calls, %5.2f read, %5.2f write units a job\n", k, float64(b.calls[k])/jobs, u.Read/jobs, u.Write/jobs)
	}
}
