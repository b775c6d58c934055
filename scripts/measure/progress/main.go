// Command progress measures, from outside a running `make dev`, the
// DynamoDB write units a job's progress writes cost with a short and with
// a long prompt (issue 15's target: within 10% of each other).
//
//	PROMPTQ_LOCAL_TOKENS_PER_SECOND=5 make dev     # a slow local model: 8-32 s a job
//	go run ./scripts/measure/progress              # in another terminal
//
// It signs a user up, submits one interactive job per prompt size through
// the API, and watches the job's items in the dev stack's DynamoDB (kumo,
// from dev.json) every 100 ms while the job runs. Each change of the job
// item's text is one progress write. kumo reports no consumed capacity, so
// the units are DynamoDB's billing rules applied to what changed: the job
// item (the larger of its sizes before and after, 1 unit per KB), its
// `active` index entry (1 unit) and every output chunk that changed (1
// unit per KB). A write the watch misses folds into the next one seen,
// which counts the chunks of both: the figure is then a little high, never
// low.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/apiclient"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/measure/awscount"
	"github.com/promptq/promptq/internal/measure/loadtest"
)

func main() {
	fs := flag.NewFlagSet("progress", flag.ExitOnError)
	dir := fs.String("dev-dir", devinfo.Dir(os.Getenv), "the dev stack's folder (dev.json)")
	short := fs.Int("short", 100, "the short prompt's length in characters")
	long := fs.Int("long", 100_000, "the long prompt's length in characters")
	_ = fs.Parse(os.Args[1:])
	if err := run(context.Background(), *dir, *short, *long); err != nil {
		fmt.Fprintln(os.Stderr, "progress:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, short, long int) error {
	info, err := devinfo.Read(dir)
	if err != nil {
		return fmt.Errorf("read dev.json (is make dev running?): %w", err)
	}
	users, err := loadtest.SignUpUsers(ctx, info, fmt.Sprintf("progress-%d", time.Now().Unix()), 1, 1)
	if err != nil {
		return err
	}
	u := users[0]
	api := &apiclient.Client{BaseURL: info.APIURL}
	db := standin.DynamoDB(info.DynamoDBEndpoint)
	var per [2]float64
	for i, n := range []int{short, long} {
		writes, units, err := measure(ctx, api, db, info.TableName, u, n)
		if err != nil {
			return err
		}
		if writes == 0 {
			return fmt.Errorf("the %d-character job made no progress write; slow the local model (PROMPTQ_LOCAL_TOKENS_PER_SECOND=5 make dev)", n)
		}
		per[i] = units / float64(writes)
		fmt.Printf("prompt of %7d characters: %2d progress writes, %.2f write units each\n", n, writes, per[i])
	}
	diff := math.Abs(per[1]-per[0]) / per[0]
	verdict := "ok"
	if diff > 0.10 {
		verdict = "MISSED"
	}
	fmt.Printf("difference %.1f%%  %s  target within 10%%\n", 100*diff, verdict)
	if verdict != "ok" {
		return errors.New("a target was missed")
	}
	return nil
}

// measure submits one job with a prompt of n characters and returns the
// progress writes it saw and their write units.
func measure(ctx context.Context, api *apiclient.Client, db *dynamodb.Client, table string, u loadtest.User, n int) (int, float64, error) {
	body, _ := json.Marshal(map[string]any{"prompt": strings.Repeat("p", n), "max_tokens": 1000})
	res, err := api.Do(ctx, http.MethodPost, "/generate", u.Token, nil, body)
	if err != nil {
		return 0, 0, err
	}
	if !res.OK() {
		return 0, 0, res.Err()
	}
	var job struct {
		ID string `json:"job_id"`
	}
	if err := json.Unmarshal(res.Body, &job); err != nil {
		return 0, 0, err
	}
	pk := jobstable.UserKey(u.Sub)
	var last *snapshot
	writes, units := 0, 0.0
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s, err := read(ctx, db, table, pk, job.ID)
		if err != nil {
			return 0, 0, err
		}
		if s.status != "running" && s.status != "queued" {
			return writes, units, nil // the finishing write is not a progress write
		}
		if last != nil && s.status == "running" && last.status == "running" && s.textBytes != last.textBytes {
			writes++
			units += math.Ceil(float64(max(s.jobSize, last.jobSize))/1024) + 1 // the item and its index entry
			for k, size := range s.chunks {
				if last.chunks[k] != size {
					units += math.Ceil(float64(size) / 1024)
				}
			}
		}
		last = &s
		time.Sleep(100 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("job %s did not end in 5 minutes", job.ID)
}

type snapshot struct {
	status    string
	textBytes string
	jobSize   int
	chunks    map[string]int // sort key → item size
}

// read takes the job item and its output chunks, consistently.
func read(ctx context.Context, db *dynamodb.Client, table, pk, id string) (snapshot, error) {
	key := map[string]types.AttributeValue{jobstable.PartitionKey: &types.AttributeValueMemberS{Value: pk}, jobstable.SortKey: &types.AttributeValueMemberS{Value: jobstable.JobKey(id)}}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{jobSize: awscount.ItemSize(got.Item), chunks: map[string]int{}}
	if v, ok := got.Item["status"].(*types.AttributeValueMemberS); ok {
		s.status = v.Value
	}
	if v, ok := got.Item["text_bytes"].(*types.AttributeValueMemberN); ok {
		s.textBytes = v.Value
	}
	p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
		TableName:              aws.String(table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :out)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk}, ":out": &types.AttributeValueMemberS{Value: jobstable.OutPrefix + id + "#"},
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return snapshot{}, err
		}
		for _, it := range page.Items {
			sk := it[jobstable.SortKey].(*types.AttributeValueMemberS).Value
			s.chunks[sk] = awscount.ItemSize(it)
		}
	}
	return s, nil
}
