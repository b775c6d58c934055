// Command api is the API Lambda: API Gateway REST proxy events in, the
// promptq HTTP API (internal/httpapi) behind them. Its configuration and
// wiring are internal/app/api's.
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

	"github.com/promptq/promptq/internal/apigw"
	"github.com/promptq/promptq/internal/app/api"
	"github.com/promptq/promptq/internal/httpapi"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("api init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(apigw.Handler(h))
}

// setup reads the configuration and builds the API with its clients.
func setup(ctx context.Context, getenv func(string) string) (*httpapi.Handler, error) {
	cfg, err := api.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return api.New(ctx, cfg, api.Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		Cognito:  cognitoidentityprovider.NewFromConfig(awsCfg),
	}, slog.Default())
}
