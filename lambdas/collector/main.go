// Command collector is the economy lane's collector Lambda: on a schedule,
// it gathers the economy queue's jobs, plans them into runs of Bedrock's
// batch inference and starts them, and sends on demand the jobs that may
// wait no more, through internal/economy. Its configuration is read from
// the environment by economy.LoadSettings, which documents every variable.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"

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

// setup builds the lane from the environment, with its clients.
func setup(ctx context.Context, getenv func(string) string) (*economy.Lane, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return economy.FromEnv(getenv, awsCfg, slog.Default())
}
