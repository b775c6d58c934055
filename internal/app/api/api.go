package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/cognito"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/httpapi"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/submit"
)

// Clients are the AWS clients the API uses. The caller builds them, so
// lambdas/api uses the default AWS configuration and the dev runner points
// them at local stand-ins.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	Cognito  *cognitoidentityprovider.Client
	HTTP     *http.Client // fetches the JWKS; nil means http.DefaultClient
}

// New builds the API handler. It fetches the user pool's signing keys once,
// so a wrong pool or region fails here, at start, not on every request.
func New(ctx context.Context, cfg Config, c Clients, logger *slog.Logger) (*httpapi.Handler, error) {
	verifier, err := cognito.NewVerifier(ctx, cognito.VerifierConfig{
		Issuer:     cfg.Issuer,
		JWKSURL:    cfg.JWKSURL,
		ClientIDs:  cfg.ClientIDs,
		HTTPClient: c.HTTP,
		Logger:     logger,
	})
	if err != nil {
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	store := dynamo.New(c.DynamoDB, cfg.Table, dynamo.Options{JobTTL: cfg.JobTTL})
	queues, err := sqsqueue.NewLanes(c.SQS, cfg.QueueURLs)
	if err != nil {
		return nil, err
	}
	sd := submit.Deps{
		Store: store,
		Queue: queues,
		// The workers count an owner in their lane's fair shares as soon
		// as their jobs are queued.
		Lanes: dynamo.NewShares(c.DynamoDB, cfg.Table, nil),
		// A replay sends a job's message again only while its lane has
		// none waiting.
		Depth: queues,
	}
	limiter := dynamo.NewLimiter(c.DynamoDB, cfg.Table, cfg.UserLimits, nil)
	if cfg.UserLimits.SubmissionsPerMinute > 0 {
		sd.Limiter = limiter
	}
	// Every job is reserved and settled, limits or not: the counters are
	// what GET /usage shows.
	sd.Budget = store
	budgets := cfg.UserLimits.Budgets(cfg.StackTokensPerDay)
	svc, err := submit.New(submit.Config{JobTTL: cfg.JobTTL, Logger: logger, Budgets: budgets}, sd)
	if err != nil {
		return nil, err
	}
	deps := httpapi.Deps{Store: store, Submit: svc, Auth: verifier, Usage: store, Watch: store}
	if cfg.UserLimits.RequestsPerSecond > 0 {
		deps.Requests = limiter
	}
	if cfg.RevocationCheck {
		rc, err := cognito.NewRevocationChecker(c.Cognito, cognito.RevocationConfig{Enabled: true, CacheTTL: cfg.RevocationTTL})
		if err != nil {
			return nil, fmt.Errorf("revocation checker: %w", err)
		}
		deps.Revoke = rc
	}
	return httpapi.New(httpapi.Config{
		Limits:         cfg.Limits,
		Budgets:        budgets,
		AllowedOrigins: cfg.WebOrigins,
		Economy:        queues.Has(jobs.LaneEconomy),
		ReadsPerSecond: cfg.UserLimits.RequestsPerSecond,
		StandIn:        cfg.StandIn,
		Logger:         logger,
	}, deps)
}
