package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/promptq/promptq/internal/jobstable"
)

// lostAnswers makes DynamoDB answer some job-creating transactions too late
// for the API: the transaction commits, then the call waits until the API
// function's deadline and fails with it, as when DynamoDB's answer takes
// longer than the function has left. It is an SDK middleware on the API's
// DynamoDB client (devstack.Hooks.AWS), armed by arm.
type lostAnswers struct {
	mu    sync.Mutex
	armed int // answers still to lose
	every int // lose one in every this many creates while armed
	seen  int
	lost  []string // the job ids whose answer was lost
}

func (l *lostAnswers) arm(n, every int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed, l.every = n, every
}

func (l *lostAnswers) lostJobs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lost...)
}

func (l *lostAnswers) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("faults.LostAnswer",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil || awsmiddleware.GetOperationName(ctx) != "TransactWriteItems" {
				return out, md, err
			}
			job := createdJob(in.Parameters)
			if job == "" || !l.take(job) {
				return out, md, err
			}
			<-ctx.Done()
			return out, md, fmt.Errorf("the answer came after the function's deadline: %w", ctx.Err())
		}), middleware.After)
}

// take reports whether to lose this create's answer.
func (l *lostAnswers) take(job string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.armed == 0 {
		return false
	}
	l.seen++
	if l.seen%l.every != 0 {
		return false
	}
	l.armed--
	l.lost = append(l.lost, job)
	return true
}

// createdJob is the job id a transaction puts, or "".
func createdJob(params any) string {
	in, ok := params.(*dynamodb.TransactWriteItemsInput)
	if !ok {
		return ""
	}
	for _, it := range in.TransactItems {
		if it.Put == nil {
			continue
		}
		if sk, ok := it.Put.Item[jobstable.SortKey].(*types.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, jobstable.JobPrefix) {
			return strings.TrimPrefix(sk.Value, jobstable.JobPrefix)
		}
	}
	return ""
}
