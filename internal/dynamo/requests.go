package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// RequestWindow is the calendar window a user's requests are counted in
// (Limits.RequestsPerSecond). Ten seconds lets a page that polls once a
// second, plus a burst of list calls, pass unnoticed, and keeps the
// Retry-After of a refused client short.
const RequestWindow = 10 * time.Second

// AllowRequest counts one API request of owner, whatever its route, and
// refuses it with a *jobs.Error of KindRateLimited (field
// requests_per_second, Retry-After the rest of the window) once the
// current window holds Limits.RequestsPerSecond × 10 requests. A refused
// request is not counted, so a client that waits out Retry-After gets its
// full allowance in the next window. Each user has their own counter (an
// item in their own partition): one user's requests never use up
// another's.
//
// Each call is one conditional UpdateItem (one write unit); the counter
// items expire an hour after their window. Other errors (DynamoDB
// unavailable) are returned translated, for the caller to decide.
func (l *Limiter) AllowRequest(ctx context.Context, owner string) error {
	if l.limits.RequestsPerSecond <= 0 {
		return nil
	}
	now := l.now().UTC()
	start := now.Truncate(RequestWindow)
	end := start.Add(RequestWindow)
	max := l.limits.RequestsPerSecond * int(RequestWindow/time.Second)
	u := l.counter(owner, jobstable.RequestsPrefix+start.Format("2006-01-02T15:04:05"), 1, max, end.Add(time.Hour))
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	if isConditionFailed(err) {
		return &jobs.Error{Kind: jobs.KindRateLimited, Field: "requests_per_second", RetryAfterSeconds: retryAfter(now, end),
			Message: fmt.Sprintf("You have sent more than %d requests in %d seconds (%d a second on average); wait as Retry-After says, then go on.",
				max, int(RequestWindow/time.Second), l.limits.RequestsPerSecond)}
	}
	if err != nil {
		return fmt.Errorf("count request: %w", translate(err))
	}
	return nil
}
