// Command collector is the economy lane's collector Lambda: on a schedule,
// it gathers the economy queue's jobs, plans them into runs of Bedrock's
// batch inference and starts them, and sends on demand the jobs that may
// wait no more, through internal/economy. Its configuration and wiring are
// internal/app/economy's, which documents every variable.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	app "github.com/promptq/promptq/internal/app/economy"
	"github.com/promptq/promptq/internal/economy"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	lane, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("collector init failed", "error", err.Error())
		os.Exit(1)
	}
	// The scheduled event carries nothing the collection needs.
	lambda.Start(lane.Collect)
}

// setup reads the configuration and builds the lane with its clients.
func setup(ctx context.Context, getenv func(string) string) (*economy.Lane, error) {
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return app.New(ctx, cfg, app.Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		S3:       s3.NewFromConfig(awsCfg),
		Bedrock:  bedrock.NewFromConfig(awsCfg),
	}, slog.Default())
}
