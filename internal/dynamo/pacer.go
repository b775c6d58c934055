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
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/quota"
)

// Pacer keeps the tokens every worker asks of a model under its
// tokens-per-minute quota, with one quota.Bucket per model in the jobs
// table:
//
//	pk = PACE#<model>  sk = BUCKET  tokens, at (epoch ms), v (version)
//
// Taking tokens reads the bucket and writes it back on the condition that
// nobody wrote it since (v); giving tokens back and a throttle's penalty
// are atomic additions. A bucket never written is full. It is safe for
// concurrent use.
type Pacer struct {
	client *dynamodb.Client
	table  string
	bucket quota.Bucket
	now    func() time.Time
}

// NewPacer returns a pacer for models with tokensPerMinute (> 0) each. now
// may be nil (time.Now).
func NewPacer(client *dynamodb.Client, table string, tokensPerMinute int, now func() time.Time) *Pacer {
	if now == nil {
		now = time.Now
	}
	return &Pacer{client: client, table: table, bucket: quota.NewBucket(tokensPerMinute), now: now}
}

func bucketKey(model string) map[string]types.AttributeValue {
	return keyOf(jobstable.PacePrefix+model, jobstable.BucketKey)
}

// Take takes tokens for a job of lane on model, or says how long to wait
// before there is room (assuming nobody else takes any meanwhile).
func (p *Pacer) Take(ctx context.Context, model string, lane jobs.Lane, tokens int) (time.Duration, error) {
	var wait time.Duration
	err := p.update(ctx, model, func(l quota.Level, now time.Time) (quota.Level, bool) {
		var after quota.Level
		after, wait = p.bucket.Take(l, lane, tokens, now)
		return after, wait == 0
	})
	if err != nil {
		return 0, fmt.Errorf("take tokens of the %s pace: %w", model, err)
	}
	return wait, nil
}

// Throttled tells the pacer the model refused a call for its quota: the
// bucket loses quota.Bucket.ThrottlePenalty from what it holds now, so
// every worker waits a while instead of each finding out by itself.
func (p *Pacer) Throttled(ctx context.Context, model string) error {
	err := p.update(ctx, model, func(l quota.Level, now time.Time) (quota.Level, bool) {
		return quota.Level{Tokens: p.bucket.Available(l, now) - p.bucket.ThrottlePenalty(), At: now}, true
	})
	if err != nil {
		return fmt.Errorf("slow down the %s pace: %w", model, err)
	}
	return nil
}

// update reads model's bucket and writes back what change makes of it, on
// the condition that nobody wrote it since; change returns false to write
// nothing.
func (p *Pacer) update(ctx context.Context, model string, change func(quota.Level, time.Time) (quota.Level, bool)) error {
	for attempt := 1; ; attempt++ {
		got, err := p.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(p.table), Key: bucketKey(model), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return translate(err)
		}
		level, v, exists, err := decodeBucket(got.Item)
		if err != nil {
			return err
		}
		after, write := change(level, p.now())
		if !write {
			return nil
		}
		in := &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.table),
			Key:                      bucketKey(model),
			UpdateExpression:         aws.String("SET #tokens = :tokens, #at = :at, #v = :next"),
			ExpressionAttributeNames: map[string]string{"#tokens": "tokens", "#at": "at", "#v": "v"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":tokens": numFloat(after.Tokens), ":at": num(after.At.UnixMilli()), ":next": num(v + 1),
			},
		}
		if exists {
			in.ConditionExpression = aws.String("#v = :v")
			in.ExpressionAttributeValues[":v"] = num(v)
		} else {
			in.ConditionExpression = aws.String("attribute_not_exists(#v)")
		}
		_, err = p.client.UpdateItem(ctx, in)
		switch {
		case err == nil:
			return nil
		case isConditionFailed(err) && attempt < 8:
			continue // another worker took or gave back tokens since the read
		case isConditionFailed(err):
			return unavailable(errors.New("the bucket kept changing under eight attempts"))
		default:
			return translate(err)
		}
	}
}

// Give puts tokens back in model's bucket: a job's reservation it did not
// use. A negative number takes more (a job that used more than it
// reserved). It is an atomic addition: the refill since the bucket's last
// write is counted from then on as before, and a bucket that was never
// written is first made full.
func (p *Pacer) Give(ctx context.Context, model string, tokens int) error {
	if tokens == 0 {
		return nil
	}
	_, err := p.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(p.table),
		Key:                      bucketKey(model),
		UpdateExpression:         aws.String("SET #tokens = if_not_exists(#tokens, :full) + :n, #at = if_not_exists(#at, :now) ADD #v :one"),
		ExpressionAttributeNames: map[string]string{"#tokens": "tokens", "#at": "at", "#v": "v"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":full": numFloat(p.bucket.Size), ":n": numFloat(float64(tokens)), ":now": num(p.now().UnixMilli()), ":one": num(1),
		},
	})
	if err != nil {
		return fmt.Errorf("give tokens back to the %s pace: %w", model, translate(err))
	}
	return nil
}

// Level reads model's bucket (for tests and measurements).
func (p *Pacer) Level(ctx context.Context, model string) (quota.Level, error) {
	got, err := p.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(p.table), Key: bucketKey(model), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return quota.Level{}, translate(err)
	}
	l, _, _, err := decodeBucket(got.Item)
	return l, err
}

// Bucket is the pacer's bucket size and rates.
func (p *Pacer) Bucket() quota.Bucket { return p.bucket }

func decodeBucket(av map[string]types.AttributeValue) (l quota.Level, v int64, exists bool, err error) {
	if len(av) == 0 {
		return quota.Level{}, 0, false, nil
	}
	number := func(name string) (float64, error) {
		n, ok := av[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0, fmt.Errorf("pace bucket lacks %s", name)
		}
		return strconv.ParseFloat(n.Value, 64)
	}
	tokens, err1 := number("tokens")
	at, err2 := number("at")
	ver, err3 := number("v")
	if err := errors.Join(err1, err2, err3); err != nil {
		return quota.Level{}, 0, false, err
	}
	return quota.Level{Tokens: tokens, At: time.UnixMilli(int64(at)).UTC()}, int64(ver), true, nil
}

func numFloat(f float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(f, 'f', 3, 64)}
}
