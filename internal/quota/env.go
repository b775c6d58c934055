package quota

import (
	"strconv"
	"strings"

	"github.com/promptq/promptq/internal/jobs"
)

// The environment variables a quota is read from (internal/app/appenv's
// Quota), by the worker and by the dev runner (the stack sets them on the
// worker from its own settings).
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

// Env is q as the variables appenv.Quota reads.
func (q Quota) Env() map[string]string {
	return map[string]string{
		EnvConcurrency:      strconv.Itoa(q.Concurrency),
		EnvTokensPerMinute:  strconv.Itoa(q.TokensPerMinute),
		EnvInteractiveShare: strconv.FormatFloat(q.InteractiveShare, 'f', -1, 64),
	}
}
