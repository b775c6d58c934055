// Command search measures what searching a user's whole history costs
// (GET /jobs?q=, dynamo.Store.Search; issue 32, item 9), and what a job's
// search terms add to its writes, for a user with many jobs:
//
//	make dev                          # in one terminal (or any dev stack)
//	go run ./scripts/measure/search   # in another: -jobs 10000 by default
//
// It writes -jobs finished jobs of one made-up user straight into the dev
// stack's table through the job store (CreateMany, then Claim and Finish
// each, as the API and the worker do), with prompts of about -prompt-words
// words and answers of about -answer-words, drawn from a vocabulary of
// -vocabulary words with Zipf's law (as text is: a few words very often,
// most rarely), and one rare word planted past the 280th character of
// every 1,000th answer. Then it runs searches as the API does, following
// each one's cursors to the end of the history: for a word in no job (the
// worst case: every search item is read), for the rare word, and for the
// most common word (a page of matches at once).
//
// kumo reports no consumed capacity and does not end a page at 1 MB, so
// read units are DynamoDB's rules applied to the search items each Query
// read (its ScannedCount of them, from where it started, weighed by their
// sizes, awscount.ItemSize): half a read unit per 4 KB of a page,
// eventually consistent, plus the job items of the matches, read whole
// (strongly consistent, BatchGetItem). Write units are the search item's
// sizes: the put at create (1 unit per KB) and the answer's update at the
// finish (the larger of the sizes before and after). Prices: DynamoDB
// on-demand in us-east-1, $0.125 per million read units and $0.625 per
// million write units. Times are against kumo on this machine, not AWS.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
	"github.com/promptq/promptq/internal/measure/awscount"
)

const (
	readPrice  = 0.125 / 1e6 // dollars per read request unit
	writePrice = 0.625 / 1e6 // dollars per write request unit
	needle     = "xenolithic"
)

func main() {
	fs := flag.NewFlagSet("search", flag.ExitOnError)
	dir := fs.String("dev-dir", envOr("PROMPTQ_DEV_DIR", devinfo.DefaultDir), "the dev stack's folder (dev.json)")
	n := fs.Int("jobs", 10_000, "how many jobs the user has")
	promptWords := fs.Int("prompt-words", 50, "words in a prompt, about")
	answerWords := fs.Int("answer-words", 400, "words in an answer, about (400 words: about 500 output tokens)")
	vocabulary := fs.Int("vocabulary", 20_000, "distinct words to draw from")
	owner := fs.String("owner", "", "search the jobs an earlier run wrote for this user (it printed it) instead of writing new ones")
	_ = fs.Parse(os.Args[1:])
	if err := run(context.Background(), *dir, *owner, *n, *promptWords, *answerWords, *vocabulary); err != nil {
		fmt.Fprintln(os.Stderr, "search:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// pages records each Query's start and how many items it read.
type pages struct {
	mu    sync.Mutex
	reads []queryRead
}

type queryRead struct {
	start   string // the sort key it started after ("" from the newest)
	scanned int
}

func (p *pages) observe(c awscount.Call) {
	in, ok := c.Input.(*dynamodb.QueryInput)
	out, _ := c.Output.(*dynamodb.QueryOutput)
	if !ok || out == nil || !strings.HasPrefix(value(in.ExpressionAttributeValues[":prefix"]), jobstable.SearchPrefix) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads = append(p.reads, queryRead{start: value(in.ExclusiveStartKey[jobstable.SortKey]), scanned: int(out.ScannedCount)})
}

func (p *pages) take() []queryRead {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reads
	p.reads = nil
	return r
}

func value(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func run(ctx context.Context, dir, owner string, n, promptWords, answerWords, vocabulary int) error {
	info, err := devinfo.Read(dir)
	if err != nil {
		return fmt.Errorf("read dev.json (is make dev running?): %w", err)
	}
	seen := &pages{}
	counter := awscount.New(seen.observe)
	db := standin.DynamoDB(info.DynamoDBEndpoint, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.Middleware) })
	store := dynamo.New(db, info.TableName, dynamo.Options{})
	words := vocab(vocabulary)
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(len(words)-1))
	text := func(k int) string {
		var b strings.Builder
		for i := range k {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[zipf.Uint64()])
		}
		return b.String()
	}

	if owner == "" {
		owner = fmt.Sprintf("measure-search-%d", time.Now().UnixNano())
		if err := write(ctx, db, store, info.TableName, owner, n, promptWords, answerWords, text); err != nil {
			return err
		}
	}
	sizes, err := searchSizes(ctx, db, info.TableName, owner)
	if err != nil {
		return err
	}
	if len(sizes) == 0 {
		return fmt.Errorf("user %s has no search items", owner)
	}
	var total float64
	for _, it := range sizes {
		total += float64(it.bytes)
	}
	fmt.Printf("search items of %s: %d, %.1f MB in all, %.0f bytes a job on average (largest %d)\n\n", owner,
		len(sizes), total/1e6, total/float64(len(sizes)), slices.MaxFunc(sizes, func(a, b sized) int { return a.bytes - b.bytes }).bytes)
	return search(ctx, store, owner, sizes, seen, words[0], len(sizes)/1000)
}

// write writes n finished jobs of owner as the API and the worker do, and
// prints what their search items add to their writes.
func write(ctx context.Context, db *dynamodb.Client, store *dynamo.Store, table, owner string, n, promptWords, answerWords int, text func(int) string) error {
	fmt.Printf("writing %d jobs of user %s (prompts of %d words, answers of %d)…\n", n, owner, promptWords, answerWords)
	start := time.Now()
	ids := make([]string, 0, n)
	answers := map[string]string{}
	for len(ids) < n {
		batch := make([]jobs.NewJob, 0, 100)
		for range min(100, n-len(ids)) {
			j := jobs.Job{ID: jobs.NewID(), Owner: owner, Prompt: text(promptWords), Model: jobs.DefaultModel, MaxTokens: 1024}
			batch = append(batch, jobs.NewJob{Job: j, Fingerprint: j.ID})
		}
		for _, r := range store.CreateMany(ctx, batch) {
			if r.Err != nil {
				return fmt.Errorf("create: %w", r.Err)
			}
			answer := text(answerWords)
			if (len(ids)+1)%1000 == 0 {
				answer += " and then, far past the preview, a " + needle + " stone."
			}
			ids = append(ids, r.Job.ID)
			answers[r.Job.ID] = answer
		}
	}
	before, err := searchSizes(ctx, db, table, owner)
	if err != nil {
		return err
	}
	created := map[string]int{}
	for _, it := range before {
		created[it.sk] = it.bytes
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			c, err := store.Claim(gctx, owner, id, time.Minute)
			if err != nil {
				return err
			}
			return store.Finish(gctx, owner, id, c.Attempts, jobs.Progress{GeneratedText: answers[id], StopReason: "end_turn"})
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	sizes, err := searchSizes(ctx, db, table, owner)
	if err != nil {
		return err
	}
	if len(sizes) != n {
		return fmt.Errorf("%d search items for %d jobs", len(sizes), n)
	}
	fmt.Printf("written in %s\n", time.Since(start).Round(time.Second))
	var putUnits, updateUnits float64
	for _, it := range sizes {
		putUnits += writeUnits(created[it.sk])
		updateUnits += writeUnits(max(created[it.sk], it.bytes))
	}
	fmt.Printf("writes a job adds: %.2f units at create (the search item's put) and %.2f at the finish (its answer's update): $%.5f per 1,000 jobs\n",
		putUnits/float64(len(sizes)), updateUnits/float64(len(sizes)), (putUnits+updateUnits)/float64(len(sizes))*1000*writePrice)
	return nil
}

// search runs the searches, following each one's cursors, and prints what
// each read and cost.
func search(ctx context.Context, store *dynamo.Store, owner string, sizes []sized, seen *pages, common string, rare int) error {
	index := map[string]int{}
	for i, it := range sizes {
		index[it.sk] = i
	}
	for _, q := range []struct{ what, q string }{
		{"a word in no job: every job's terms read", "qqqqzzzz"},
		{fmt.Sprintf("a rare word (in %d answers, past 280 characters)", rare), needle},
		{"the most common word", common},
	} {
		qwords, err := jobs.SearchWords(q.q)
		if err != nil {
			return err
		}
		seen.take()
		var found, requests int
		t0 := time.Now()
		for cursor := ""; ; {
			p, err := store.Search(ctx, owner, qwords, 20, cursor)
			if err != nil {
				return fmt.Errorf("search %q: %w", q.q, err)
			}
			requests++
			found += len(p.Jobs)
			if cursor = p.NextCursor; cursor == "" {
				break
			}
			if q.q == common {
				break // one page is what a person asked for
			}
		}
		took := time.Since(t0)
		reads := seen.take()
		units, scanned := 0.0, 0
		for _, r := range reads {
			from := 0
			if r.start != "" {
				from = index[r.start] + 1
			}
			units += pageUnits(sizes[from:min(from+r.scanned, len(sizes))])
			scanned += r.scanned
		}
		units += float64(found) // the matches' job items, under 4 KB each, strongly consistent
		fmt.Printf("%s (q=%s): %d jobs found in %d requests, %d Query calls reading %d search items; %.0f read units ($%.6f); %s against kumo\n",
			q.what, q.q, found, requests, len(reads), scanned, units, units*readPrice, took.Round(time.Millisecond))
	}
	return nil
}

// sized is a search item's sort key and size.
type sized struct {
	sk    string
	bytes int
}

// searchSizes is the owner's search items' sizes, newest first (the order
// a search reads them).
func searchSizes(ctx context.Context, db *dynamodb.Client, table, owner string) ([]sized, error) {
	var out []sized
	p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: jobstable.UserKey(owner)}, ":prefix": &types.AttributeValueMemberS{Value: jobstable.SearchPrefix}},
		ScanIndexForward:          aws.Bool(false),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the search items: %w", err)
		}
		for _, it := range page.Items {
			out = append(out, sized{sk: value(it[jobstable.SortKey]), bytes: awscount.ItemSize(it)})
		}
	}
	return out, nil
}

// pageUnits is what reading items costs in one Query: DynamoDB adds up a
// page's item sizes and charges half a read unit per 4 KB (eventually
// consistent), cutting pages at 1 MB.
func pageUnits(items []sized) float64 {
	units, bytes := 0.0, 0
	for _, it := range items {
		if bytes+it.bytes > 1<<20 {
			units += math.Ceil(float64(bytes)/4096) / 2
			bytes = 0
		}
		bytes += it.bytes
	}
	return units + math.Ceil(float64(bytes)/4096)/2
}

func writeUnits(bytes int) float64 { return math.Max(1, math.Ceil(float64(bytes)/1024)) }

// vocab is n made-up words of 3 to 11 letters, the same each run.
func vocab(n int) []string {
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		b := make([]byte, 3+r.IntN(9))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		if w := string(b); !seen[w] && w != needle {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
