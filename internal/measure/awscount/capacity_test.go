package awscount_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/promptq/promptq/internal/measure/awscount"
)

type item = map[string]types.AttributeValue

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func TestItemSizeFollowsDynamoDBsRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		item item
		want int
	}{
		{"empty", item{}, 0},
		{"string: name and bytes", item{"pk": s("USER#abc")}, 2 + 8},
		{"multi-byte string counts bytes", item{"t": s("é")}, 1 + 2},
		{"small number", item{"n": n("7")}, 1 + 2},
		{"number of 13 digits", item{"ms": n("1764072000123")}, 2 + 8},
		{"leading and trailing zeros do not count", item{"n": n("-000.1200")}, 1 + 2},
		{"bool and null", item{"b": &types.AttributeValueMemberBOOL{Value: true}, "z": &types.AttributeValueMemberNULL{Value: true}}, 2 + 2},
		{"binary", item{"b": &types.AttributeValueMemberB{Value: []byte{1, 2, 3}}}, 1 + 3},
		{"list", item{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ab"), s("c")}}}, 1 + 3 + (1 + 2) + (1 + 1)},
		{"map", item{"m": &types.AttributeValueMemberM{Value: item{"k": s("vv")}}}, 1 + 3 + 1 + 1 + 2},
		{"string set", item{"ss": &types.AttributeValueMemberSS{Value: []string{"a", "bc"}}}, 2 + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := awscount.ItemSize(tt.item); got != tt.want {
				t.Errorf("ItemSize = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCapacityEstimatesUnitsFromItemSizes(t *testing.T) {
	t.Parallel()
	big := item{"pk": s("USER#x"), "text": s(strings.Repeat("a", 2500))} // 2.5 KB: 3 write units, 1 read unit
	small := item{"pk": s("USER#x")}
	op := func(name string) awscount.Op { return awscount.Op{Service: "DynamoDB", Operation: name} }
	tests := []struct {
		name        string
		call        awscount.Call
		read, write float64
	}{
		{"put of 2.5 KB", awscount.Call{Op: op("PutItem"), Input: &dynamodb.PutItemInput{Item: big}, Output: &dynamodb.PutItemOutput{}}, 0, 3},
		{"update returning the new item", awscount.Call{Op: op("UpdateItem"), Input: &dynamodb.UpdateItemInput{}, Output: &dynamodb.UpdateItemOutput{Attributes: big}}, 0, 3},
		{"update without the item: one unit", awscount.Call{Op: op("UpdateItem"), Input: &dynamodb.UpdateItemInput{}, Output: &dynamodb.UpdateItemOutput{}}, 0, 1},
		{"failed update: one unit", awscount.Call{Op: op("UpdateItem"), Input: &dynamodb.UpdateItemInput{}}, 0, 1},
		{"transaction doubles", awscount.Call{Op: op("TransactWriteItems"), Input: &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{Item: big}}, {Put: &types.Put{Item: small}}, {Update: &types.Update{}},
		}}, Output: &dynamodb.TransactWriteItemsOutput{}}, 0, 2*3 + 2 + 2},
		{"consistent get", awscount.Call{Op: op("GetItem"), Input: &dynamodb.GetItemInput{ConsistentRead: aws.Bool(true)}, Output: &dynamodb.GetItemOutput{Item: big}}, 1, 0},
		{"eventually consistent get of nothing", awscount.Call{Op: op("GetItem"), Input: &dynamodb.GetItemInput{}, Output: &dynamodb.GetItemOutput{}}, 0.5, 0},
		{"query adds its items up before rounding", awscount.Call{Op: op("Query"), Input: &dynamodb.QueryInput{ConsistentRead: aws.Bool(true)},
			Output: &dynamodb.QueryOutput{Items: []item{big, big}}}, 2, 0},
		{"counting query", awscount.Call{Op: op("Query"), Input: &dynamodb.QueryInput{Select: types.SelectCount},
			Output: &dynamodb.QueryOutput{ScannedCount: 100}}, 3, 0}, // 21,500 bytes: 6 units, halved
		{"batch get: missing keys cost a unit each", awscount.Call{Op: op("BatchGetItem"),
			Input:  &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"t": {Keys: []item{small, small, small}, ConsistentRead: aws.Bool(true)}}},
			Output: &dynamodb.BatchGetItemOutput{Responses: map[string][]item{"t": {big}}}}, 3, 0},
		{"put of an active job: one more unit for its index entry", awscount.Call{Op: op("PutItem"),
			Input: &dynamodb.PutItemInput{Item: item{"pk": s("USER#x"), "active_owner": s("x")}}, Output: &dynamodb.PutItemOutput{}}, 0, 2},
		{"progress write of an active job", awscount.Call{Op: op("UpdateItem"), Input: &dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET #generated_text = :text")},
			Output: &dynamodb.UpdateItemOutput{Attributes: item{"pk": s("USER#x"), "active_owner": s("x"), "text": s(strings.Repeat("a", 1500))}}}, 0, 2 + 1},
		{"a job leaving the index", awscount.Call{Op: op("UpdateItem"), Input: &dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET #status = :s REMOVE #active_owner")},
			Output: &dynamodb.UpdateItemOutput{Attributes: small}}, 0, 1 + 1},
		{"a failed update changes no index", awscount.Call{Op: op("UpdateItem"), Input: &dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET #active_owner = :o")}}, 0, 1},
		{"transaction: index entries are not doubled", awscount.Call{Op: op("TransactWriteItems"), Input: &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{Item: item{"pk": s("USER#x"), "active_owner": s("x")}}}, {Update: &types.Update{UpdateExpression: aws.String("SET #a = :a REMOVE #active_owner")}},
		}}, Output: &dynamodb.TransactWriteItemsOutput{}}, 0, 2 + 1 + 2 + 1},
		{"batch write", awscount.Call{Op: op("BatchWriteItem"), Input: &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
			"t": {{PutRequest: &types.PutRequest{Item: big}}, {DeleteRequest: &types.DeleteRequest{Key: small}}},
		}}, Output: &dynamodb.BatchWriteItemOutput{}}, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := awscount.NewCapacity()
			c.Observe(tt.call)
			got := c.Total()
			if got.Read != tt.read || got.Write != tt.write || got.Estimated != 1 || got.Measured != 0 {
				t.Errorf("got %+v, want read %v write %v, estimated", got, tt.read, tt.write)
			}
		})
	}
}

func TestCapacityUsesConsumedCapacityWhenTheResponseHasIt(t *testing.T) {
	t.Parallel()
	c := awscount.NewCapacity()
	op := awscount.Op{Service: "DynamoDB", Operation: "PutItem"}
	c.Observe(awscount.Call{Op: op, Input: &dynamodb.PutItemInput{Item: item{"a": s(strings.Repeat("x", 5000))}},
		Output: &dynamodb.PutItemOutput{ConsumedCapacity: &types.ConsumedCapacity{CapacityUnits: aws.Float64(7)}}})
	c.Observe(awscount.Call{Op: awscount.Op{Service: "DynamoDB", Operation: "Query"}, Input: &dynamodb.QueryInput{},
		Output: &dynamodb.QueryOutput{ConsumedCapacity: &types.ConsumedCapacity{CapacityUnits: aws.Float64(1.5)}}})
	c.Observe(awscount.Call{Op: awscount.Op{Service: "SQS", Operation: "SendMessage"}})
	got := c.Total()
	if got.Write != 7 || got.Read != 1.5 || got.Measured != 2 || got.Estimated != 0 {
		t.Errorf("got %+v, want 7 write and 1.5 read units, both measured, SQS ignored", got)
	}
	if u := c.Units()["PutItem"]; u.Write != 7 {
		t.Errorf("PutItem units %+v", u)
	}
	c.Reset()
	if got := c.Total(); got != (awscount.Units{}) {
		t.Errorf("after Reset: %+v", got)
	}
}

// An update inside a transaction is charged on its item's size, which the
// response does not say: Capacity takes the last size it saw for the key.
func TestATransactionsUpdateCountsTheItemsLastSeenSize(t *testing.T) {
	t.Parallel()
	c := awscount.NewCapacity()
	key := item{"pk": s("USER#a"), "sk": s("JOB#1")}
	job := item{"pk": s("USER#a"), "sk": s("JOB#1"), "text": s(strings.Repeat("x", 2900))} // 3 KB
	c.Observe(awscount.Call{Op: awscount.Op{Service: "DynamoDB", Operation: "GetItem"},
		Input: &dynamodb.GetItemInput{TableName: aws.String("jobs"), Key: key}, Output: &dynamodb.GetItemOutput{Item: job}})
	counter := item{"pk": s("USER#a"), "sk": s("LIMIT#active")}
	c.Observe(awscount.Call{Op: awscount.Op{Service: "DynamoDB", Operation: "TransactWriteItems"},
		Input: &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: aws.String("jobs"), Key: key, UpdateExpression: aws.String("SET #settled = :true")}},
			{Update: &types.Update{TableName: aws.String("jobs"), Key: counter, UpdateExpression: aws.String("ADD #n :n")}},
		}}, Output: &dynamodb.TransactWriteItemsOutput{}})
	if u := c.Units()["TransactWriteItems"]; u.Write != 2*3+2*1 {
		t.Errorf("transaction units %+v, want 2×3 for the 3 KB job and 2×1 for the unseen counter", u)
	}
}
