package awscount

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Op names one API operation, such as {"DynamoDB", "PutItem"}. Service is
// the SDK's service id ("DynamoDB", "SQS", "Cognito Identity Provider").
type Op struct {
	Service   string
	Operation string
}

// Stats is what a Counter saw of one operation.
type Stats struct {
	Op
	Calls    int64 // client method calls
	Requests int64 // HTTP requests sent for them, retries included
	Errors   int64 // calls that returned an error
}

// Call is one finished call, as an observer sees it.
type Call struct {
	Op
	Input    any // the operation's input, such as *dynamodb.PutItemInput
	Output   any // its output, such as *dynamodb.PutItemOutput; nil with Err
	Err      error
	Duration time.Duration
}

// Counter counts calls and requests per operation. Its methods are safe
// for concurrent use; one Counter may serve many clients.
type Counter struct {
	mu        sync.Mutex
	ops       map[Op]*Stats
	observers []func(Call)
}

// New returns a counter that also passes every finished call to observers,
// from the goroutine that made it.
func New(observers ...func(Call)) *Counter {
	return &Counter{ops: map[Op]*Stats{}, observers: observers}
}

// Middleware adds the counter to a client's middleware stack; it is an
// APIOptions function.
func (c *Counter) Middleware(stack *middleware.Stack) error {
	// Initialize runs once per call, before the retry loop, and sees the
	// input and the output.
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awscount.Call",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			call := Call{Op: opOf(ctx), Input: in.Parameters, Err: err, Duration: time.Since(start)}
			if err == nil {
				call.Output = out.Result
			}
			c.mu.Lock()
			s := c.stats(call.Op)
			s.Calls++
			if err != nil {
				s.Errors++
			}
			c.mu.Unlock()
			for _, o := range c.observers {
				o(call)
			}
			return out, md, err
		}), middleware.After)
	if err != nil {
		return err
	}
	// At the end of Finalize, inside the retry loop: once per request sent.
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("awscount.Request",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.stats(opOf(ctx)).Requests++
			c.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func opOf(ctx context.Context) Op {
	return Op{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
}

// stats returns op's entry; c.mu must be held.
func (c *Counter) stats(op Op) *Stats {
	s, ok := c.ops[op]
	if !ok {
		s = &Stats{Op: op}
		c.ops[op] = s
	}
	return s
}

// Snapshot returns the counts so far, sorted by service and operation.
func (c *Counter) Snapshot() []Stats {
	c.mu.Lock()
	out := make([]Stats, 0, len(c.ops))
	for _, s := range c.ops {
		out = append(out, *s)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Stats) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation))
	})
	return out
}

// Reset forgets every count, such as those of a setup phase.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.ops = map[Op]*Stats{}
	c.mu.Unlock()
}

// Total sums the stats of service's operations ("" for all services).
func Total(stats []Stats, service string) Stats {
	t := Stats{Op: Op{Service: service}}
	for _, s := range stats {
		if service == "" || s.Service == service {
			t.Calls += s.Calls
			t.Requests += s.Requests
			t.Errors += s.Errors
		}
	}
	return t
}
