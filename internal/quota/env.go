package quota

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/jobs"
)

// The environment variables a quota is read from, by the worker and by the
// dev runner (the stack sets them on the worker from its own settings).
const (
	EnvConcurrency      = "PROMPTQ_MODEL_CONCURRENCY"
	EnvTokensPerMinute  = "PROMPTQ_MODEL_TOKENS_PER_MINUTE"
	EnvInteractiveShare = "PROMPTQ_INTERACTIVE_SHARE"
)

// QueueURLEnv is the variable holding lane's queue URL, which every
// function and the dev runner read and the stack sets:
// PROMPTQ_INTERACTIVE_QUEUE_URL, PROMPTQ_BULK_QUEUE_URL.
func QueueURLEnv(lane jobs.Lane) string {
	return "PROMPTQ_" + strings.ToUpper(string(lane.OrDefault())) + "_QUEUE_URL"
}

// FromEnv reads a quota with getenv, starting from Default, and validates
// it.
func FromEnv(getenv func(string) string) (Quota, error) {
	q := Default()
	r := envvar.New(getenv)
	r.Int(EnvConcurrency, &q.Concurrency, envvar.NoMin, envvar.NoMax)
	r.Int(EnvTokensPerMinute, &q.TokensPerMinute, envvar.NoMin, envvar.NoMax)
	r.Float(EnvInteractiveShare, &q.InteractiveShare)
	if err := r.Err(); err != nil {
		return Quota{}, err
	}
	if err := q.Validate(); err != nil {
		return Quota{}, fmt.Errorf("%s, %s, %s: %w", EnvConcurrency, EnvInteractiveShare, EnvTokensPerMinute, err)
	}
	return q, nil
}

// Env is q as the variables FromEnv reads.
func (q Quota) Env() map[string]string {
	return map[string]string{
		EnvConcurrency:      strconv.Itoa(q.Concurrency),
		EnvTokensPerMinute:  strconv.Itoa(q.TokensPerMinute),
		EnvInteractiveShare: strconv.FormatFloat(q.InteractiveShare, 'f', -1, 64),
	}
}
