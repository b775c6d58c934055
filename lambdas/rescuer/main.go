// Command rescuer is the rescuer Lambda: on a schedule, it finds jobs whose
// queue message was lost and sends them to the workers again, through
// internal/rescue. Its configuration and wiring are internal/app/rescuer's,
// which documents every variable.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/app/rescuer"
	"github.com/promptq/promptq/internal/rescue"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	r, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("rescuer init failed", "error", err.Error())
		os.Exit(1)
	}
	// The scheduled event carries nothing the run needs.
	lambda.Start(r.Run)
}

// setup reads the configuration and builds the rescuer with its clients.
func setup(ctx context.Context, getenv func(string) string) (*rescue.Rescuer, error) {
	cfg, err := rescuer.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return rescuer.New(ctx, cfg, rescuer.Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
	}, slog.Default())
}
