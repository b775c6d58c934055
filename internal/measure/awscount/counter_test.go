package awscount_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/measure/awscount"
)

func find(t *testing.T, stats []awscount.Stats, service, op string) awscount.Stats {
	t.Helper()
	for _, s := range stats {
		if s.Service == service && s.Operation == op {
			return s
		}
	}
	t.Fatalf("no %s %s in %+v", service, op, stats)
	return awscount.Stats{}
}

func TestCountsEachOperationOfEveryClientItIsAddedTo(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	var seen atomic.Int64
	c := awscount.New(func(awscount.Call) { seen.Add(1) })
	db := standin.DynamoDB(k.URL, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, c.Middleware) })
	q := standin.SQS(k.URL, func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, c.Middleware) })
	ctx := t.Context()
	table := standin.UniqueName(t)

	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table + "-missing"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}}); err == nil {
		t.Fatal("GetItem on a missing table succeeded")
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}

	stats := c.Snapshot()
	if s := find(t, stats, "DynamoDB", "PutItem"); s.Calls != 3 || s.Requests != 3 || s.Errors != 0 {
		t.Errorf("PutItem: %+v, want 3 calls, 3 requests, no errors", s)
	}
	if s := find(t, stats, "DynamoDB", "GetItem"); s.Calls != 1 || s.Errors != 1 {
		t.Errorf("GetItem: %+v, want 1 call that failed", s)
	}
	if s := find(t, stats, "SQS", "SendMessage"); s.Calls != 1 || s.Requests != 1 {
		t.Errorf("SendMessage: %+v, want 1 call, 1 request", s)
	}
	if got, want := awscount.Total(stats, "DynamoDB").Calls, int64(5); got != want {
		t.Errorf("DynamoDB calls %d, want %d", got, want)
	}
	if got, want := seen.Load(), awscount.Total(stats, "").Calls; got != want {
		t.Errorf("observer saw %d calls, counter %d", got, want)
	}
	c.Reset()
	if s := c.Snapshot(); len(s) != 0 {
		t.Errorf("after Reset: %+v", s)
	}
}

func TestARetriedCallIsOneCallAndTwoRequests(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`))
			return
		}
		_, _ = w.Write([]byte(`{"TableNames":[]}`))
	}))
	t.Cleanup(srv.Close)
	var calls []awscount.Call
	c := awscount.New(func(call awscount.Call) { calls = append(calls, call) })
	db := standin.DynamoDB(srv.URL, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, c.Middleware) })
	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	s := find(t, c.Snapshot(), "DynamoDB", "ListTables")
	if s.Calls != 1 || s.Requests != 2 || s.Errors != 0 {
		t.Errorf("got %+v, want 1 call sent twice", s)
	}
	if len(calls) != 1 {
		t.Fatalf("observer saw %d calls, want 1", len(calls))
	}
	if _, ok := calls[0].Input.(*dynamodb.ListTablesInput); !ok {
		t.Errorf("observer's input is %T", calls[0].Input)
	}
	if _, ok := calls[0].Output.(*dynamodb.ListTablesOutput); !ok {
		t.Errorf("observer's output is %T", calls[0].Output)
	}
}

func TestAFailedCallIsCountedAsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}`))
	}))
	t.Cleanup(srv.Close)
	var got error
	c := awscount.New(func(call awscount.Call) { got = call.Err })
	db := standin.DynamoDB(srv.URL, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, c.Middleware) })
	_, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("t")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || !errors.As(got, &rnf) {
		t.Fatalf("err %v, observer saw %v; want ResourceNotFoundException", err, got)
	}
	if s := find(t, c.Snapshot(), "DynamoDB", "DescribeTable"); s.Calls != 1 || s.Requests != 1 || s.Errors != 1 {
		t.Errorf("got %+v, want 1 call, 1 request, 1 error", s)
	}
}
