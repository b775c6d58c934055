package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
)

// Limits are per-user limits that protect the account's Bedrock bill. Zero
// turns a limit off.
type Limits struct {
	// SubmissionsPerMinute counts POST /generate and /generate/batch calls
	// (a batch is one call) in each calendar minute.
	SubmissionsPerMinute int
	// TokensPerDay caps the token budget (jobs.Request.TokenBudget) of the
	// jobs a user submits in one UTC day.
	TokensPerDay int
	// ActiveJobs caps a user's jobs that are queued or running at once.
	ActiveJobs int
	// RequestsPerSecond caps every API request of a user (polls
	// included), counted in calendar windows of RequestWindow: at most
	// RequestsPerSecond × 10 requests in each 10 seconds. See
	// AllowRequest.
	RequestsPerSecond int
}

// Limiter enforces Limits with counters in the jobs table, updated
// atomically: a counter item per user and window (pk USER#<sub>, sk
// LIMIT#<kind>#<window>), expiring by TTL after its window. Active jobs are
// counted on the sparse activeIndex.
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

// Allow admits a submission of cost for owner, or returns a *jobs.Error of
// KindRateLimited naming the limit, with RetryAfterSeconds. Counters move
// only when every limit admits the submission.
func (l *Limiter) Allow(ctx context.Context, owner string, cost jobs.Cost) error {
	now := l.now().UTC()
	if l.limits.ActiveJobs > 0 {
		n, err := l.CountActive(ctx, owner, l.limits.ActiveJobs)
		if err != nil {
			return err
		}
		if n+cost.Jobs > l.limits.ActiveJobs {
			return &jobs.Error{Kind: jobs.KindRateLimited, Field: "active_jobs", RetryAfterSeconds: 10,
				Message: fmt.Sprintf("You have %d jobs queued or running and at most %d may be at once; wait for some to finish.", n, l.limits.ActiveJobs)}
		}
	}

	type counter struct {
		update *types.Update
		err    *jobs.Error
	}
	var counters []counter
	if l.limits.SubmissionsPerMinute > 0 {
		minute := now.Truncate(time.Minute)
		next := minute.Add(time.Minute)
		counters = append(counters, counter{
			update: l.add(owner, "LIMIT#minute#"+minute.Format("2006-01-02T15:04"), 1, l.limits.SubmissionsPerMinute, next),
			err: &jobs.Error{Kind: jobs.KindRateLimited, Field: "submissions_per_minute", RetryAfterSeconds: retryAfter(now, next),
				Message: fmt.Sprintf("You have sent more than %d submissions this minute; try again in a few seconds.", l.limits.SubmissionsPerMinute)},
		})
	}
	if l.limits.TokensPerDay > 0 {
		day := now.Truncate(24 * time.Hour)
		next := day.Add(24 * time.Hour)
		counters = append(counters, counter{
			update: l.add(owner, "LIMIT#tokens#"+day.Format("2006-01-02"), cost.Tokens, l.limits.TokensPerDay, next),
			err: &jobs.Error{Kind: jobs.KindRateLimited, Field: "tokens_per_day", RetryAfterSeconds: retryAfter(now, next),
				Message: fmt.Sprintf("This would pass your daily budget of %d tokens (max_tokens plus the prompt's estimated tokens); it resets at 00:00 UTC.", l.limits.TokensPerDay)},
		})
	}
	switch len(counters) {
	case 0:
		return nil
	case 1:
		u := counters[0].update
		_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
			ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
		})
		if isConditionFailed(err) {
			return counters[0].err
		}
		if err != nil {
			return fmt.Errorf("count submission: %w", translate(err))
		}
		return nil
	}
	items := make([]types.TransactWriteItem, len(counters))
	for i, c := range counters {
		items[i] = types.TransactWriteItem{Update: c.update}
	}
	_, err := l.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for i, r := range canceled.CancellationReasons {
			if i < len(counters) && aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return counters[i].err
			}
		}
	}
	if err != nil {
		return fmt.Errorf("count submission: %w", translate(err))
	}
	return nil
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
		Key:                 map[string]types.AttributeValue{"pk": str(userPK(owner)), "sk": str(sk)},
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

// CountActive counts owner's queued and running jobs, stopping once it
// has seen upTo (so a user with a huge backlog costs a bounded read). The
// index is eventually consistent: a job accepted a moment ago may not be
// counted yet, which a cap of this kind tolerates.
func (l *Limiter) CountActive(ctx context.Context, owner string, upTo int) (int, error) {
	n := 0
	var start map[string]types.AttributeValue
	for {
		out, err := l.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(l.table),
			IndexName:                 aws.String(activeIndex),
			KeyConditionExpression:    aws.String("#active_owner = :owner"),
			ExpressionAttributeNames:  map[string]string{"#active_owner": attrActiveOwner},
			ExpressionAttributeValues: map[string]types.AttributeValue{":owner": str(owner)},
			Select:                    types.SelectCount,
			Limit:                     aws.Int32(int32(min(upTo+1, 1000))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return n, fmt.Errorf("count active jobs: %w", translate(err))
		}
		n += int(out.Count)
		start = out.LastEvaluatedKey
		if len(start) == 0 || n > upTo {
			return n, nil
		}
	}
}

// String describes the limits for logs.
func (l Limits) String() string {
	return "submissions/min=" + strconv.Itoa(l.SubmissionsPerMinute) + " tokens/day=" + strconv.Itoa(l.TokensPerDay) +
		" active=" + strconv.Itoa(l.ActiveJobs) + " requests/s=" + strconv.Itoa(l.RequestsPerSecond)
}

// Refund takes cost.Tokens back off today's token counter. It is best
// effort: if it fails, the user stays charged for a job they did not get
// until the day ends, which costs no money.
func (l *Limiter) Refund(ctx context.Context, owner string, cost jobs.Cost) {
	if l.limits.TokensPerDay <= 0 || cost.Tokens <= 0 {
		return
	}
	day := l.now().UTC().Truncate(24 * time.Hour)
	_, _ = l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{"pk": str(userPK(owner)), "sk": str("LIMIT#tokens#" + day.Format("2006-01-02"))},
		UpdateExpression:          aws.String("ADD #n :n"),
		ConditionExpression:       aws.String("attribute_exists(#n)"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(-cost.Tokens))},
	})
}
