package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/jobstable"
)

// The economy lane's items (internal/economy gathers jobs into runs and
// ends them):
//
//	pk                sk                      what
//	ECON              MODEL#<model>           a model that had economy jobs waiting
//	ECON#<model>      WAIT#<created>#<job>    a job waiting for a run: owner, record bytes
//	ECON              RUN#<run>               a run not ended yet (the safety net's list)
//	RUN#<run>         RUN                     the run
//	RUN#<run>         JOB#<job>               a job of the run: owner, the attempt its claim made
//	ECON              COLLECTOR               the collector's lease: holder, until
//
// None is a job's own item: a job stays in its owner's partition, and a
// run names a job only with its owner, so the economy lane's functions
// reach a job only through a record its owner's submission made.
const (
	modelPrefix = jobstable.ModelPrefix
	waitPrefix  = jobstable.WaitPrefix
	runSK       = jobstable.RunKey
	// collectorSK is the collector's lease (pk ECON): one collection at
	// a time.
	collectorSK = jobstable.CollectorKey
)

type waitItem struct {
	jobstable.Key
	JobID     string `dynamodbav:"job_id"`
	Owner     string `dynamodbav:"owner"`
	Model     string `dynamodbav:"model"`
	CreatedAt string `dynamodbav:"created_at"`
	Bytes     int64  `dynamodbav:"bytes"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

type runItem struct {
	jobstable.Key
	RunID   string `dynamodbav:"run_id"`
	Model   string `dynamodbav:"model"`
	JobARN  string `dynamodbav:"job_arn,omitempty"`
	State   string `dynamodbav:"state"`
	Records int    `dynamodbav:"records"`
	Done    int    `dynamodbav:"done"`
	// Cancelled counts the run's jobs cancelled since they were claimed
	// for it (the API adds to it; UpdateRun never writes it).
	Cancelled    int    `dynamodbav:"cancelled,omitempty"`
	InputKey     string `dynamodbav:"input_key"`
	OutputPrefix string `dynamodbav:"output_prefix"`
	CreatedAt    string `dynamodbav:"created_at"`
	UpdatedAt    string `dynamodbav:"updated_at"`
	ExpiresAt    int64  `dynamodbav:"expires_at"`
}

type memberItem struct {
	jobstable.Key
	JobID     string `dynamodbav:"job_id"`
	Owner     string `dynamodbav:"owner"`
	Attempt   int    `dynamodbav:"attempt"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

func waitKey(w jobs.Waiting) (pk, sk string) {
	return jobstable.EconomyPrefix + w.Model, waitPrefix + formatTime(w.CreatedAt) + "#" + w.ID
}

func runPK(id string) string { return jobstable.RunPrefix + id }

// AddWaiting records economy jobs as waiting for a run, and their models
// as having jobs waiting. Adding a job again changes nothing.
func (s *Store) AddWaiting(ctx context.Context, ws []jobs.Waiting) error {
	expires := s.now().Add(s.opts.JobTTL).Unix()
	var puts []map[string]types.AttributeValue
	models := map[string]bool{}
	for _, w := range ws {
		pk, sk := waitKey(w)
		av, err := attributevalue.MarshalMap(waitItem{Key: jobstable.Key{PK: pk, SK: sk}, JobID: w.ID, Owner: w.Owner, Model: w.Model,
			CreatedAt: formatTime(w.CreatedAt), Bytes: w.Bytes, ExpiresAt: expires})
		if err != nil {
			return err
		}
		puts = append(puts, av)
		if !models[w.Model] {
			models[w.Model] = true
			puts = append(puts, keyOf(jobstable.EconomyKey, modelPrefix+w.Model))
		}
	}
	if err := s.writeBatch(ctx, puts, nil); err != nil {
		return fmt.Errorf("add waiting economy jobs: %w", err)
	}
	return nil
}

// Waiting lists every economy job waiting for a run, per model in the
// order they were submitted.
func (s *Store) Waiting(ctx context.Context) ([]jobs.Waiting, error) {
	models, err := s.queryAll(ctx, jobstable.EconomyKey, modelPrefix)
	if err != nil {
		return nil, fmt.Errorf("list economy models: %w", err)
	}
	var out []jobs.Waiting
	for _, m := range models {
		var model struct {
			jobstable.Key
		}
		if err := attributevalue.UnmarshalMap(m, &model); err != nil {
			return nil, err
		}
		items, err := s.queryAll(ctx, jobstable.EconomyPrefix+model.SK[len(modelPrefix):], waitPrefix)
		if err != nil {
			return nil, fmt.Errorf("list waiting economy jobs: %w", err)
		}
		for _, av := range items {
			var it waitItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, err
			}
			created, err := parseTime(it.CreatedAt)
			if err != nil {
				return nil, err
			}
			out = append(out, jobs.Waiting{ID: it.JobID, Owner: it.Owner, Model: it.Model, CreatedAt: created, Bytes: it.Bytes})
		}
	}
	return out, nil
}

// RemoveWaiting deletes waiting records (of jobs gathered into a run or
// sent on demand). Removing one that is gone changes nothing.
func (s *Store) RemoveWaiting(ctx context.Context, ws []jobs.Waiting) error {
	var keys []map[string]types.AttributeValue
	for _, w := range ws {
		pk, sk := waitKey(w)
		keys = append(keys, keyOf(pk, sk))
	}
	if err := s.writeBatch(ctx, nil, keys); err != nil {
		return fmt.Errorf("remove waiting economy jobs: %w", err)
	}
	return nil
}

// PutRun records run r, starting, among the open runs (one transaction:
// a run is never listed without its record, nor recorded unlisted), then
// its jobs, each with the attempt its claim for the run will make. The
// collector records a run before it claims a job for it, so a collector
// that dies after any claim leaves a run the completion's check finds and
// ends (internal/economy).
func (s *Store) PutRun(ctx context.Context, r jobs.Run, members []jobs.RunMember) error {
	up, err := s.runUpdate(r)
	if err != nil {
		return err
	}
	open := openRunKey(r.ID)
	if err := s.transact(ctx, []types.TransactWriteItem{{Update: up}, {Put: &types.Put{TableName: aws.String(s.table), Item: open}}}); err != nil {
		return fmt.Errorf("record run %s: %w", r.ID, translate(err))
	}
	expires := s.now().Add(s.opts.JobTTL).Unix()
	var puts []map[string]types.AttributeValue
	for _, m := range members {
		av, err := attributevalue.MarshalMap(memberItem{Key: jobstable.Key{PK: runPK(r.ID), SK: jobSK(m.JobID)}, JobID: m.JobID,
			Owner: m.Owner, Attempt: m.Attempt, ExpiresAt: expires})
		if err != nil {
			return err
		}
		puts = append(puts, av)
	}
	if err := s.writeBatch(ctx, puts, nil); err != nil {
		return fmt.Errorf("record the jobs of run %s: %w", r.ID, err)
	}
	return nil
}

// DropOpenRun takes run id off the open runs without touching its record:
// for a listing whose run has no record (left by an older version that
// listed a run before recording it).
func (s *Store) DropOpenRun(ctx context.Context, id string) error {
	if err := s.writeBatch(ctx, nil, []map[string]types.AttributeValue{openRunKey(id)}); err != nil {
		return fmt.Errorf("take run %s off the open runs: %w", id, err)
	}
	return nil
}

// openRunKey is run id's item among the open runs.
func openRunKey(id string) map[string]types.AttributeValue {
	return keyOf(jobstable.EconomyKey, jobstable.RunPrefix+id)
}

// UpdateRun writes run r's record (all but its count of cancelled jobs,
// which Cancel keeps); an ended run leaves the open runs, which PutRun
// put it among.
func (s *Store) UpdateRun(ctx context.Context, r jobs.Run) error {
	up, err := s.runUpdate(r)
	if err != nil {
		return err
	}
	if _, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: up.TableName, Key: up.Key,
		UpdateExpression: up.UpdateExpression, ExpressionAttributeNames: up.ExpressionAttributeNames,
		ExpressionAttributeValues: up.ExpressionAttributeValues}); err != nil {
		return fmt.Errorf("record run %s: %w", r.ID, translate(err))
	}
	if r.State == jobs.RunEnded {
		return s.DropOpenRun(ctx, r.ID)
	}
	return nil
}

// runUpdate writes run r's record, all but its count of cancelled jobs.
func (s *Store) runUpdate(r jobs.Run) (*types.Update, error) {
	update := "SET #run_id = :id, #model = :model, #job_arn = :arn, #state = :state, #records = :records, " +
		"#done = :done, #input_key = :in, #output_prefix = :out, #created_at = :created, #updated_at = :now, #expires_at = :expires"
	values := map[string]types.AttributeValue{
		":id": str(r.ID), ":model": str(r.Model), ":arn": str(r.JobARN), ":state": str(string(r.State)),
		":records": num(int64(r.Records)), ":done": num(int64(r.Done)), ":in": str(r.InputKey), ":out": str(r.OutputPrefix),
		":created": str(formatTime(r.CreatedAt)), ":now": str(formatTime(s.now())),
		":expires": num(s.now().Add(s.opts.JobTTL).Unix()),
	}
	if err := checkValues(values, update); err != nil {
		return nil, err
	}
	return &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(runPK(r.ID), runSK),
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  namesIn(update),
		ExpressionAttributeValues: values,
	}, nil
}

// HoldCollector takes the collector's lease for holder until until, and
// reports whether it did: a lease another holder has, that has not lapsed,
// is not taken. Two collections at once would plan the same waiting jobs
// and split a model's jobs into runs each below Bedrock's minimum.
func (s *Store) HoldCollector(ctx context.Context, holder string, until time.Time) (bool, error) {
	now := s.now()
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: str(jobstable.EconomyKey), attrSK: str(collectorSK),
			"holder": str(holder), "until": num(millis(until)), "expires_at": num(until.Add(24 * time.Hour).Unix()),
		},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #until < :now OR #holder = :holder"),
		ExpressionAttributeNames:  names("#pk", "#until", "#holder"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(millis(now)), ":holder": str(holder)},
	})
	switch {
	case err == nil:
		return true, nil
	case isConditionFailed(err):
		return false, nil
	default:
		return false, fmt.Errorf("take the collector's lease: %w", translate(err))
	}
}

// ReleaseCollector gives holder's lease of the collector back; a lease
// another holder took since is left alone.
func (s *Store) ReleaseCollector(ctx context.Context, holder string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(jobstable.EconomyKey, collectorSK),
		ConditionExpression:       aws.String("#holder = :holder"),
		ExpressionAttributeNames:  names("#holder"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":holder": str(holder)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("give back the collector's lease: %w", translate(err))
	}
	return nil
}

// countCancelled adds one to run id's count of cancelled jobs.
func (s *Store) countCancelled(ctx context.Context, id string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(runPK(id), runSK),
		UpdateExpression:          aws.String("ADD #cancelled :one"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  names("#cancelled", "#pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
	})
	if err != nil && !isConditionFailed(err) {
		return translate(err)
	}
	return nil
}

// Run reads run id's record; a run id with none gives an error matching
// jobs.ErrNotFound.
func (s *Store) Run(ctx context.Context, id string) (jobs.Run, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		Key: keyOf(runPK(id), runSK)})
	if err != nil {
		return jobs.Run{}, fmt.Errorf("read run %s: %w", id, translate(err))
	}
	if len(out.Item) == 0 {
		return jobs.Run{}, fmt.Errorf("read run %s: %w", id, jobs.ErrNotFound)
	}
	var it runItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return jobs.Run{}, err
	}
	r := jobs.Run{ID: it.RunID, Model: it.Model, JobARN: it.JobARN, State: jobs.RunState(it.State), Records: it.Records,
		Done: it.Done, Cancelled: it.Cancelled, InputKey: it.InputKey, OutputPrefix: it.OutputPrefix}
	if r.CreatedAt, err = parseTime(it.CreatedAt); err != nil {
		return jobs.Run{}, err
	}
	if r.UpdatedAt, err = parseTime(it.UpdatedAt); err != nil {
		return jobs.Run{}, err
	}
	return r, nil
}

// RunMembers lists run id's jobs.
func (s *Store) RunMembers(ctx context.Context, id string) ([]jobs.RunMember, error) {
	items, err := s.queryAll(ctx, runPK(id), jobPrefix)
	if err != nil {
		return nil, fmt.Errorf("list the jobs of run %s: %w", id, err)
	}
	out := make([]jobs.RunMember, 0, len(items))
	for _, av := range items {
		var it memberItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, err
		}
		out = append(out, jobs.RunMember{Owner: it.Owner, JobID: it.JobID, Attempt: it.Attempt})
	}
	return out, nil
}

// OpenRuns lists the ids of the runs not ended.
func (s *Store) OpenRuns(ctx context.Context) ([]string, error) {
	items, err := s.queryAll(ctx, jobstable.EconomyKey, jobstable.RunPrefix)
	if err != nil {
		return nil, fmt.Errorf("list open runs: %w", err)
	}
	ids := make([]string, 0, len(items))
	for _, av := range items {
		var it struct {
			jobstable.Key
		}
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, err
		}
		ids = append(ids, it.SK[len(jobstable.RunPrefix):])
	}
	return ids, nil
}

// queryAll reads every item of partition pk whose sort key begins with
// prefix, strongly consistent.
func (s *Store) queryAll(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": jobstable.PartitionKey, "#sk": jobstable.SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":prefix": str(prefix)},
		ConsistentRead:            aws.Bool(true),
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// writeBatch puts and deletes items, batchWriteMax a BatchWriteItem
// call, through batchWrite (which sends again what DynamoDB left
// unprocessed).
func (s *Store) writeBatch(ctx context.Context, puts, deletes []map[string]types.AttributeValue) error {
	var reqs []types.WriteRequest
	for _, p := range puts {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: p}})
	}
	for _, k := range deletes {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
	}
	for start := 0; start < len(reqs); start += batchWriteMax {
		if _, err := s.batchWrite(ctx, reqs[start:min(start+batchWriteMax, len(reqs))]); err != nil {
			return err
		}
	}
	return nil
}
