package devstack

import (
	"context"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/worker"
)

// Hooks let a measurement harness that runs the stack in-process
// (scripts/measure/load, scripts/measure/faults, scripts/measure/cost) watch it without changing
// what it runs. `make dev` sets none. Set them with [Stack.SetHooks]
// before [Stack.Run].
type Hooks struct {
	// AWS is added to the APIOptions of every DynamoDB, SQS and Cognito
	// client the stack builds for the API, the worker and the poller (and
	// for creating the table and queues at start), such as a request
	// counter (internal/measure/awscount).
	AWS []func(*middleware.Stack) error
	// Model, if set, wraps the worker's model: to count its calls or to
	// make it fail on purpose.
	Model func(worker.Model) worker.Model
	// Handler, if set, wraps the worker's handler as the poller invokes it:
	// to count invocations and time them.
	Handler func(esm.Handler) esm.Handler
	// Economy, if set, is told of each invocation of the economy lane's
	// functions that did work, as Lambda would bill it: "collector" (a
	// collection that gathered, started or rerouted something) or
	// "completion" (a state-change event, or a check of open runs), and
	// how long it ran. The schedule's idle runs are a monthly cost, not a
	// job's, and are not reported.
	Economy func(function string, d time.Duration)
	// ExternalWorker leaves the jobs queue to a worker outside the stack
	// (the stack starts no poller), so that the worker can be killed while
	// the API and the stand-ins keep running, as a Lambda instance can.
	ExternalWorker bool
}

// SetHooks installs h; call it before Run.
func (s *Stack) SetHooks(h Hooks) { s.hooks = h }

func (h Hooks) dynamoDB(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, h.AWS...) }

func (h Hooks) sqs(o *sqs.Options) { o.APIOptions = append(o.APIOptions, h.AWS...) }

func (h Hooks) s3(o *s3.Options) { o.APIOptions = append(o.APIOptions, h.AWS...) }

// economy reports an economy function's invocation that did work.
func (h Hooks) economy(function string, start time.Time) {
	if h.Economy != nil {
		h.Economy(function, time.Since(start))
	}
}

// cognito is the API's Cognito client: the stand-in's own, or one with
// the hooks' middleware.
func (h Hooks) cognito(c *standin.CognitoServer) *cip.Client {
	if len(h.AWS) == 0 {
		return c.Client
	}
	return cip.NewFromConfig(standin.AWSConfig(c.URL), func(o *cip.Options) {
		o.APIOptions = append(o.APIOptions, h.AWS...)
	})
}

// runPoller runs the worker's poller until ctx ends, unless the worker is
// external.
func (h Hooks) runPoller(ctx context.Context, p *esm.Poller) error {
	if h.ExternalWorker {
		return nil
	}
	return p.Run(ctx)
}

func (h Hooks) model(m worker.Model) worker.Model {
	if h.Model == nil {
		return m
	}
	return h.Model(m)
}

func (h Hooks) handler(fn esm.Handler) esm.Handler {
	if h.Handler == nil {
		return fn
	}
	return h.Handler(fn)
}
