package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"

	economyapp "github.com/promptq/promptq/internal/app/economy"
	"github.com/promptq/promptq/internal/dev/localbatch"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/economy"
)

// EconomyRoleARN is the service role the dev stack's runs name; the batch
// stand-in does not check it.
const EconomyRoleARN = "arn:aws:iam::000000000000:role/promptq-economy"

// economyDefaults are the dev stack's settings of the economy lane, which
// the environment overrides: small runs and a short wait, so that a
// person trying the lane sees runs end in seconds.
var economyDefaults = map[string]string{
	"PROMPTQ_ECONOMY_MIN_RECORDS":   "5",
	"PROMPTQ_ECONOMY_MAX_RECORDS":   "500",
	"PROMPTQ_ECONOMY_MAX_WAIT":      "20s",
	"PROMPTQ_ECONOMY_TIMEOUT_HOURS": "24",
}

// startEconomy starts the economy lane as the stack deploys it: Bedrock's
// batch control plane (here its stand-in, on a free port, with the S3
// stand-in and a local model of its own), the collector on its schedule,
// and the completion function on the stand-in's state-change events and
// on its schedule.
func (s *Stack) startEconomy(ctx context.Context, getenv func(string) string, res resources) error {
	log := s.log.With("component", "economy")
	ln, err := listen(0, "Bedrock batch stand-in", "")
	if err != nil {
		return err
	}
	// The stand-in's events go to the completion function, as the
	// stack's EventBridge rule sends them; delivered in order, once each.
	var lane *economy.Lane
	ready := make(chan struct{})
	s.batch = localbatch.New(localbatch.Options{
		S3:         res.s3,
		Model:      localmodel.New(localmodel.Options{TokensPerSecond: float64(s.cfg.BatchTokensPerSecond)}),
		StartAfter: s.cfg.EconomyStartAfter,
		Log:        s.log.With("component", "bedrock-batch"),
		OnEvent: func(ctx context.Context, ev events.CloudWatchEvent) {
			select {
			case <-ready:
			case <-ctx.Done():
				return // the lane never started: nothing to complete
			}
			defer s.hooks.economy("completion", time.Now())
			if err := lane.HandleEvent(ctx, ev); err != nil && ctx.Err() == nil {
				log.Warn("completing a run on its event failed; the check tries again", "error", err)
			}
		},
	})
	srv := &http.Server{Handler: s.batch, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serve the Bedrock batch stand-in on %s: %w", ln.Addr(), err))
		}
	}()

	env := map[string]string{
		"PROMPTQ_TABLE":            TableName,
		"PROMPTQ_ECONOMY_BUCKET":   EconomyBucket,
		"PROMPTQ_ECONOMY_ROLE_ARN": EconomyRoleARN,
	}
	maps.Copy(env, res.queueURLs.Env())
	settings, err := economyapp.FromEnv(overlay(func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return economyDefaults[name]
	}, env))
	if err != nil {
		return fmt.Errorf("economy lane config: %w", err)
	}
	lane, err = economyapp.New(ctx, settings, economyapp.Clients{
		DynamoDB: res.db, SQS: res.sqs, S3: res.s3,
		Bedrock: bedrock.NewFromConfig(standin.AWSConfig("http://" + ln.Addr().String())),
	}, log)
	if err != nil {
		return err
	}
	close(ready)
	s.economyDone = make(chan struct{})
	go func() {
		defer close(s.economyDone)
		runEconomy(ctx, lane, s.cfg.EconomyEvery, s.hooks, log)
	}()
	return nil
}

// checkEvery is how often the dev stack's completion check runs (the
// stack's: every 15 minutes), for runs whose event was lost.
const checkEvery = 30 * time.Second

// runEconomy runs the collector every interval, and the completion's
// check every checkEvery, until ctx ends. A failed run is logged; the
// next one tries again.
func runEconomy(ctx context.Context, lane *economy.Lane, every time.Duration, hooks Hooks, log *slog.Logger) {
	collect := time.NewTicker(every)
	defer collect.Stop()
	check := time.NewTicker(checkEvery)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-collect.C:
			start := time.Now()
			rep, err := lane.Collect(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("economy collection failed; the next one tries again", "error", err)
			}
			if rep.Gathered+rep.Runs+rep.OnDemand > 0 {
				hooks.economy("collector", start)
				log.Info("economy collection", "gathered", rep.Gathered, "runs", rep.Runs,
					"in_runs", rep.InRuns, "on_demand", rep.OnDemand, "dropped", strconv.Itoa(rep.Dropped))
			}
		case <-check.C:
			start := time.Now()
			reps, err := lane.Check(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("economy check failed; the next one tries again", "error", err)
			}
			if len(reps) > 0 {
				hooks.economy("completion", start)
			}
		}
	}
}
