// Package appenv reads the settings more than one binary reads from its
// environment, so each is read one way: the lanes' queue URLs (the API,
// the worker, the rescuer, the economy functions) and the model's quota
// (the worker and the dev runner). Only the app packages (internal/app/...)
// and the dev runner read the environment; the product packages they wire
// take what is read here as values.
package appenv

import (
	"fmt"

	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// LaneURLs reads every lane's queue URL with getenv; an on-demand lane
// without one is an error naming its variable (quota.QueueURLEnv). The
// economy lane's (PROMPTQ_ECONOMY_QUEUE_URL) is optional: without it, the
// API refuses economy batches.
func LaneURLs(getenv func(string) string) (sqsqueue.LaneURLs, error) {
	r := envvar.New(getenv)
	urls := sqsqueue.LaneURLs{}
	for _, lane := range jobs.Lanes {
		var url string
		if r.Required(quota.QueueURLEnv(lane), &url); url != "" {
			urls[lane] = url
		}
	}
	var economy string
	if r.String(quota.QueueURLEnv(jobs.LaneEconomy), &economy); economy != "" {
		urls[jobs.LaneEconomy] = economy
	}
	return urls, r.Err()
}

// Quota reads a quota with getenv (quota.EnvConcurrency,
// quota.EnvTokensPerMinute, quota.EnvInteractiveShare), starting from
// quota.Default, and validates it.
func Quota(getenv func(string) string) (quota.Quota, error) {
	q := quota.Default()
	r := envvar.New(getenv)
	r.Int(quota.EnvConcurrency, &q.Concurrency, envvar.NoMin, envvar.NoMax)
	r.Int(quota.EnvTokensPerMinute, &q.TokensPerMinute, envvar.NoMin, envvar.NoMax)
	r.Float(quota.EnvInteractiveShare, &q.InteractiveShare)
	if err := r.Err(); err != nil {
		return quota.Quota{}, err
	}
	if err := q.Validate(); err != nil {
		return quota.Quota{}, fmt.Errorf("%s, %s, %s: %w", quota.EnvConcurrency, quota.EnvInteractiveShare, quota.EnvTokensPerMinute, err)
	}
	return q, nil
}
