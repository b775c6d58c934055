// Command api is the API Lambda: API Gateway REST proxy events in, the
// promptq HTTP API (internal/httpapi) behind them.
//
// Clients are built once at init and reused across invocations.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/apiapp"
	"github.com/promptq/promptq/internal/apigw"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	if err := run(context.Background()); err != nil {
		slog.Error("api init failed", "error", err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := apiapp.FromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	h, err := apiapp.New(ctx, cfg, apiapp.Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		Cognito:  cognitoidentityprovider.NewFromConfig(awsCfg),
	}, slog.Default())
	if err != nil {
		return err
	}
	lambda.Start(apigw.Handler(h))
	return nil
}
