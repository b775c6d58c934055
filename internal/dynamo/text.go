package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// A job's text lives beside its job item (item.go), under the owner's
// partition key:
//
//	IN#<id>          the prompt and system prompt, written once with the job
//	                 (at most jobs.MaxInputBytes, well under 400 KB)
//	OUT#<id>#00000   the generated text in chunks of chunkBytes bytes,
//	OUT#<id>#00001   ... as many as it takes; the job item's text_bytes
//	                 says how much of them is the text
//
// A progress write rewrites only the chunks from the first one that
// changed (jobs.Progress.Saved), then the job item, whose condition is the
// writer's claim, so its cost depends on neither the prompt's size nor the
// answer's. Readers take text_bytes from the job item and that many bytes
// from the chunks, and chunks are written before the job item, so:
//
//   - text that only grew (jobs.Progress.Appended: the usual progress
//     write, and the result of a job whose text was written as it came)
//     changes no byte a reader can see until the job item says so:
//     the chunks are plain PutItems, fenced by the attempt that wrote them
//     (a chunk is never overwritten by an older attempt, so a worker that
//     lost its claim cannot undo the new claimant's text), then the job
//     item's conditional UpdateItem: about 3 write units (one chunk, the
//     job item, its index entry). A change that ends the job then settles
//     its budget in its own transaction (settle.go), without the chunks;
//   - text that changed (a model that starts over, the text kept when a
//     call stopped) goes in one transaction with the job item's change, so
//     it is all or nothing, with the settlement too when it ends the job.
//
// Chunks are bytes (binary attributes), so a chunk boundary may fall
// inside a UTF-8 character.

// chunkBytes is the text an output chunk holds: with the chunk's keys and
// attributes (about 120 bytes) the item stays within 1 KB, one write unit.
const chunkBytes = 896

// appendChunksMax is how many chunks an appending write puts without a
// transaction; more (a long first write) take the transaction path.
const appendChunksMax = 4

// maxTransactItems is how many actions one TransactWriteItems takes.
const maxTransactItems = 100

type inputItem struct {
	jobstable.Key
	Prompt string `dynamodbav:"prompt"`
	System string `dynamodbav:"system,omitempty"`
	// ResponseFormat is the job's jobs.ResponseFormat as JSON ("" for
	// none): with the prompt, as it may be 16 KB, which the job item,
	// read by every listing, should not carry.
	ResponseFormat string `dynamodbav:"response_format,omitempty"`
	ExpiresAt      int64  `dynamodbav:"expires_at"`
	// WriteToken is the job item's (see item): a retried Create finds its
	// own input, another job with the same id does not.
	WriteToken string `dynamodbav:"write_token,omitempty"`
}

type outputItem struct {
	jobstable.Key
	Text      []byte `dynamodbav:"text"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
	// Attempt is the claim that wrote the chunk: an appending write never
	// overwrites a later attempt's chunk.
	Attempt int `dynamodbav:"attempt,omitempty"`
}

func inSK(id string) string         { return inPrefix + id }
func outSKPrefix(id string) string  { return outPrefix + id + "#" }
func outSK(id string, n int) string { return fmt.Sprintf("%s%05d", outSKPrefix(id), n) }

// inputAV is the input item of a new job.
func inputAV(j jobs.Job, token string) (map[string]types.AttributeValue, error) {
	in := inputItem{
		Key: jobstable.Key{PK: userPK(j.Owner), SK: inSK(j.ID)}, Prompt: j.Prompt, System: j.System, ExpiresAt: j.ExpiresAt.Unix(),
		WriteToken: token,
	}
	if j.ResponseFormat != nil {
		b, err := json.Marshal(j.ResponseFormat)
		if err != nil {
			return nil, fmt.Errorf("encode the job's response format: %w", err)
		}
		in.ResponseFormat = string(b)
	}
	return attributevalue.MarshalMap(in)
}

// putInput writes a new job's input item, with the job item's write token.
// It comes before the job item: a job item without its input would be a
// job no worker can run, while an input item whose job was never written
// is only left for TTL. Another job's input under the same id is a
// conflict, never overwritten.
func (s *Store) putInput(ctx context.Context, j jobs.Job, token string) error {
	av, err := inputAV(j, token)
	if err != nil {
		return err
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: av,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #write_token = :token"),
		ExpressionAttributeNames:  names("#pk", "#write_token"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token)},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("another job's input has this id: %w", jobs.ErrConflict)
	}
	if err != nil {
		return translate(err)
	}
	return nil
}

// complete fills in j's prompt, system prompt and text, which the job item
// holds only previews of. The output items are read only when the preview
// is not the whole text (textBytes long).
func (s *Store) complete(ctx context.Context, j jobs.Job, textBytes int) (jobs.Job, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: keyOf(userPK(j.Owner), inSK(j.ID)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return jobs.Job{}, translate(err)
	}
	if len(out.Item) > 0 {
		var in inputItem
		if err := attributevalue.UnmarshalMap(out.Item, &in); err != nil {
			return jobs.Job{}, fmt.Errorf("decode job input: %w", err)
		}
		j.Prompt, j.System = in.Prompt, in.System
		if in.ResponseFormat != "" {
			j.ResponseFormat = new(jobs.ResponseFormat)
			if err := json.Unmarshal([]byte(in.ResponseFormat), j.ResponseFormat); err != nil {
				return jobs.Job{}, fmt.Errorf("decode job response format: %w", err)
			}
		}
	}
	if textBytes == len(j.GeneratedText) {
		return j, nil
	}
	text := make([]byte, 0, textBytes)
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: names("#pk", "#sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(userPK(j.Owner)), ":prefix": str(outSKPrefix(j.ID)),
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() && len(text) < textBytes {
		page, err := p.NextPage(ctx)
		if err != nil {
			return jobs.Job{}, translate(err)
		}
		for _, av := range page.Items {
			var o outputItem
			if err := attributevalue.UnmarshalMap(av, &o); err != nil {
				return jobs.Job{}, fmt.Errorf("decode job output: %w", err)
			}
			text = append(text, o.Text...)
		}
	}
	if len(text) < textBytes {
		return jobs.Job{}, fmt.Errorf("job %s: %d bytes of text stored, want %d", j.ID, len(text), textBytes)
	}
	j.GeneratedText = string(text[:textBytes])
	return j, nil
}

// completed is complete for a job an update returned: its text's length
// is read again with the input, as the job item's text_bytes.
func (s *Store) completed(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	it, err := s.getItem(ctx, j.Owner, j.ID)
	if err != nil {
		return jobs.Job{}, err
	}
	return s.complete(ctx, j, it.TextBytes)
}

// writeText applies c (a change by the worker holding the job as attempt)
// with p's text: the job item gets the text's length (and its preview,
// when c ends the job), and the chunks from the one holding byte p.Saved
// on are written first: appended text without a transaction, other text
// with c, in apply's transaction, so they are written only if c is made
// and a change that ends the job settles its budget as any other does. A
// first write longer than one transaction holds (a whole answer at once)
// writes its leading chunks first, in transactions that only check c's
// condition.
func (s *Store) writeText(ctx context.Context, owner, id string, attempt int, c change, p jobs.Progress) error {
	c.values = maps.Clone(c.values)
	c.values[":text_bytes"] = num(int64(len(p.GeneratedText)))
	rest, ok := strings.CutPrefix(c.update, "SET ")
	if !ok {
		return fmt.Errorf("update %q must start with SET", c.update)
	}
	set := "SET #text_bytes = :text_bytes, "
	if c.to.Terminal() {
		// The listing's preview of the text is written with the result
		// only: kept out of the job item while it runs, it leaves the
		// item, and so each progress write, the same size whatever the
		// text (the prompt's preview is the prompt's only share).
		c.values[":text_preview"] = str(jobs.Preview(p.GeneratedText))
		set += "#text_preview = :text_preview, "
	}
	c.update = set + rest

	first := min(max(p.Saved, 0), len(p.GeneratedText)) / chunkBytes
	chunks, err := chunkAVs(owner, id, attempt, p.GeneratedText, first, s.now().Add(s.opts.JobTTL))
	if err != nil {
		return err
	}
	if p.Appended && len(chunks) <= appendChunksMax {
		for _, av := range chunks {
			if err := s.putChunk(ctx, owner, id, attempt, av); err != nil {
				return err
			}
		}
		_, err := s.apply(ctx, owner, id, c)
		return err
	}
	puts := make([]types.TransactWriteItem, len(chunks))
	for i, av := range chunks {
		puts[i] = types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: av}}
	}
	if len(puts) > chunksWithChange {
		upd, err := c.updateInput(s.table, owner, id)
		if err != nil {
			return err
		}
		check := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: upd.TableName, Key: upd.Key, ConditionExpression: upd.ConditionExpression,
			ExpressionAttributeNames:  namesIn(*upd.ConditionExpression),
			ExpressionAttributeValues: valuesIn(upd.ExpressionAttributeValues, *upd.ConditionExpression),
		}}
		for len(puts) > chunksWithChange {
			n := min(len(puts)-chunksWithChange, maxTransactItems-1)
			err := s.transact(ctx, append(puts[:n:n], check))
			var canceled *types.TransactionCanceledException
			switch {
			case err == nil:
			case errors.As(err, &canceled) && reasonIs(canceled.CancellationReasons, n, "ConditionalCheckFailed"):
				return s.changedUnder(ctx, owner, id)
			default:
				return translate(err)
			}
			puts = puts[n:]
		}
	}
	c.puts = puts
	_, err = s.apply(ctx, owner, id, c)
	return err
}

// chunkAVs is text's output chunks from the first'th on, as attempt
// writes them.
func chunkAVs(owner, id string, attempt int, text string, first int, expires time.Time) ([]map[string]types.AttributeValue, error) {
	var chunks []map[string]types.AttributeValue
	for n := first; n*chunkBytes < len(text); n++ {
		end := min((n+1)*chunkBytes, len(text))
		av, err := attributevalue.MarshalMap(outputItem{
			Key: jobstable.Key{PK: userPK(owner), SK: outSK(id, n)}, Text: []byte(text[n*chunkBytes : end]), ExpiresAt: expires.Unix(),
			Attempt: attempt,
		})
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, av)
	}
	return chunks, nil
}

// putSeed writes the output chunks of a job created with text (one that
// continues another job's answer: jobs.Job.ContinueRequest) before its job
// item, as attempt 0, which every claim's writes overwrite. Unconditional:
// the id is fresh, and chunks whose job item is never written (a replay
// that found its key's job) are only left for TTL, as an input item is.
func (s *Store) putSeed(ctx context.Context, j jobs.Job) error {
	chunks, err := chunkAVs(j.Owner, j.ID, 0, j.GeneratedText, 0, j.ExpiresAt)
	if err != nil {
		return err
	}
	reqs := make([]types.WriteRequest, len(chunks))
	for i, av := range chunks {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: av}}
	}
	for len(reqs) > 0 {
		n := min(len(reqs), batchWriteMax)
		if _, err := s.batchWrite(ctx, reqs[:n]); err != nil {
			return err
		}
		reqs = reqs[n:]
	}
	return nil
}

// putChunk writes an output chunk of attempt's, unless a later attempt
// wrote that chunk: then the writer has lost its claim (ErrConflict).
func (s *Store) putChunk(ctx context.Context, owner, id string, attempt int, av map[string]types.AttributeValue) error {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     av,
		ConditionExpression:      aws.String("attribute_not_exists(#pk) OR attribute_not_exists(#attempt) OR #attempt <= :attempt"),
		ExpressionAttributeNames: names("#pk", "#attempt"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":attempt": num(int64(attempt)),
		},
	})
	if isConditionFailed(err) {
		return s.changedUnder(ctx, owner, id)
	}
	return translateNil(err)
}

// changedUnder is the error of a write whose job changed under it: the
// conflict with the job as it is now.
func (s *Store) changedUnder(ctx context.Context, owner, id string) error {
	_, err := s.lostCondition(ctx, owner, id, nil, "")
	if err == nil {
		err = fmt.Errorf("the job changed under the write: %w", jobs.ErrConflict)
	}
	return err
}

// chunksWithChange is how many chunks go in the transaction of the change
// they come with: what is left of the 100 actions after the job's update
// and the three counters a settlement may move (settle.go).
const chunksWithChange = maxTransactItems - 4

// valuesIn is the values that expr uses: DynamoDB refuses unused ones.
func valuesIn(values map[string]types.AttributeValue, expr string) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for _, v := range valueRE.FindAllString(expr, -1) {
		out[v] = values[v]
	}
	return out
}
