package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// CreateTable creates the jobs table if it does not exist: on-demand, string
// keys pk and sk, TTL on expires_at. It is idempotent, for tests and the dev
// runner; in AWS the stack owns the table.
//
// A stand-in that lacks UpdateTimeToLive still gets a working table: TTL
// only deletes old items, and the store never relies on it (it treats an
// expired idempotency record as absent).
//
// optFns change the table's definition before it is created, such as a
// StreamSpecification for readers of the table's stream.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string, optFns ...func(*dynamodb.CreateTableInput)) error {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrActiveOwner), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(activeIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrActiveOwner), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: activeProjection,
			},
		}},
	}
	for _, fn := range optFns {
		fn(in)
	}
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		// It exists already (or is being created).
	case err != nil:
		return fmt.Errorf("create table %s: %w", table, translate(err))
	}

	// The waiter's default first delay is 20 s; an on-demand table is
	// usually active within a few.
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 5*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}

	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !ttlAlreadyOnOrUnsupported(err) {
		return fmt.Errorf("enable TTL on table %s: %w", table, translate(err))
	}
	return nil
}

// ttlAlreadyOnOrUnsupported reports errors that leave the table usable:
// DynamoDB refuses to enable TTL twice ("TimeToLive is already enabled"),
// and some stand-ins do not know the operation at all.
func ttlAlreadyOnOrUnsupported(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "UnknownOperationException", "UnrecognizedClientException", "NotImplemented":
		return true
	case "ValidationException":
		return strings.Contains(apiErr.ErrorMessage(), "already enabled")
	}
	return false
}
