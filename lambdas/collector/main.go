// Command collector is the economy lane's collector Lambda: on a schedule,
// it gathers the economy queue's jobs, plans them into runs of Bedrock's
// batch inference and starts them, and sends on demand the jobs that may
// wait no more, through internal/economy. Its configuration and wiring are
// internal/app/economy's, which documents every variable.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	app "github.com/promptq/promptq/internal/app/economy"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	lane, err := app.Setup(context.Background(), os.Getenv, slog.Default())
	if err != nil {
		slog.Error("collector init failed", "error", err.Error())
		os.Exit(1)
	}
	// The scheduled event carries nothing the collection needs.
	lambda.Start(lane.Collect)
}
