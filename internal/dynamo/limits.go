package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// Limits are per-user limits that protect the account's Bedrock bill. Zero
// turns a limit off.
type Limits struct {
	// SubmissionsPerMinute counts POST /generate and /generate/batch calls
	// (a batch is one call) in each calendar minute.
	SubmissionsPerMinute int
	// TokensPerDay caps the tokens a user commits in one UTC day: the
	// worst case (jobs.Request.WorstCaseTokens) of jobs not yet ended,
	// and what ended jobs were charged (jobs.Budgets).
	TokensPerDay int
	// ActiveJobs caps a user's jobs that are queued or running at once,
	// exactly: a counter the job's transitions move (jobs.Budgets).
	ActiveJobs int
	// RequestsPerSecond caps every API request of a user (polls
	// included), counted in calendar windows of RequestWindow: at most
	// RequestsPerSecond × 10 requests in each 10 seconds. See
	// AllowRequest.
	RequestsPerSecond int
}

// Limiter enforces the rate limits of Limits (submissions a minute,
// requests a second) with counters in the jobs table, updated atomically:
// a counter item per user and window (pk USER#<sub>, sk
// LIMIT#<kind>#<window>), expiring by TTL after its window. The token
// budget and active jobs are the store's (budget.go).
type Limiter struct {
	client *dynamodb.Client
	table  string
	limits Limits
	now    func() time.Time
}

// NewLimiter returns a limiter on table. now may be nil (time.Now).
func NewLimiter(client *dynamodb.Client, table string, limits Limits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{client: client, table: table, limits: limits, now: now}
}

// Allow admits one submission (a call of POST /generate or
// /generate/batch) for owner, or returns a *jobs.Error of KindRateLimited
// naming submissions_per_minute, with RetryAfterSeconds. The token budget
// and the cap on active jobs are the job store's (Store.Reserve), since the
// job's transitions move their counters.
func (l *Limiter) Allow(ctx context.Context, owner string) error {
	if l.limits.SubmissionsPerMinute <= 0 {
		return nil
	}
	now := l.now().UTC()
	minute := now.Truncate(time.Minute)
	next := minute.Add(time.Minute)
	u := l.add(owner, jobstable.MinutePrefix+minute.Format("2006-01-02T15:04"), 1, l.limits.SubmissionsPerMinute, next)
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	if isConditionFailed(err) {
		return &jobs.Error{Kind: jobs.KindRateLimited, Field: "submissions_per_minute", RetryAfterSeconds: retryAfter(now, next),
			Message: fmt.Sprintf("You have sent more than %d submissions this minute; try again in a few seconds.", l.limits.SubmissionsPerMinute)}
	}
	if err != nil {
		return fmt.Errorf("count submission: %w", translate(err))
	}
	return nil
}

// Budgets are the limits the job store enforces at submit (Store.Reserve),
// with stackTokens, the stack-wide daily budget (0: none).
func (l Limits) Budgets(stackTokens int) jobs.Budgets {
	return jobs.Budgets{TokensPerDay: l.TokensPerDay, ActiveJobs: l.ActiveJobs, StackTokensPerDay: stackTokens}
}

// add is an update that adds n to a window's counter if it stays within
// max; the item expires a day after its window ends.
func (l *Limiter) add(owner, sk string, n, max int, windowEnd time.Time) *types.Update {
	return l.counter(owner, sk, n, max, windowEnd.Add(24*time.Hour))
}

// counter is an update that adds n to the counter at sk if it stays
// within max, and sets its expiry.
func (l *Limiter) counter(owner, sk string, n, max int, expires time.Time) *types.Update {
	return &types.Update{
		TableName:           aws.String(l.table),
		Key:                 keyOf(userPK(owner), sk),
		UpdateExpression:    aws.String("SET #expires_at = :expires ADD #n :n"),
		ConditionExpression: aws.String("attribute_not_exists(#n) OR #n <= :room"),
		ExpressionAttributeNames: map[string]string{
			"#n": "n", "#expires_at": attrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n":       num(int64(n)),
			":room":    num(int64(max - n)),
			":expires": num(expires.Unix()),
		},
	}
}

func retryAfter(now, next time.Time) int {
	return max(1, int(next.Sub(now).Seconds()+0.999))
}

// String describes the limits for logs.
func (l Limits) String() string {
	return "submissions/min=" + strconv.Itoa(l.SubmissionsPerMinute) + " tokens/day=" + strconv.Itoa(l.TokensPerDay) +
		" active=" + strconv.Itoa(l.ActiveJobs) + " requests/s=" + strconv.Itoa(l.RequestsPerSecond)
}
