package devstack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/dev/esm"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/worker"
)

// startHooked is startStack with hooks.
func startHooked(t *testing.T, env map[string]string, h devstack.Hooks) (*devstack.Stack, *console) {
	t.Helper()
	standin.RequireTool(t, cognitoLocal)
	cfg, err := devstack.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	out := newConsole()
	s := devstack.New(cfg, out, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	s.SetHooks(h)
	if err := s.Run(t.Context()); err != nil {
		t.Fatalf("start the dev stack: %v\n%s", err, out.String())
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, out
}

// seen records what the hooks saw.
type seen struct {
	mu          sync.Mutex
	ops         []string
	models      int
	invocations int
}

func (s *seen) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test.Seen",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.mu.Lock()
			s.ops = append(s.ops, awsmiddleware.GetServiceID(ctx)+" "+awsmiddleware.GetOperationName(ctx))
			s.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

type countingModel struct {
	s     *seen
	inner worker.Model
}

func (m countingModel) Generate(ctx context.Context, req jobs.Request, onDelta func(string)) (jobs.Progress, error) {
	m.s.mu.Lock()
	m.s.models++
	m.s.mu.Unlock()
	return m.inner.Generate(ctx, req, onDelta)
}

func TestHooksSeeTheAWSCallsTheModelAndTheWorkerInvocations(t *testing.T) {
	t.Parallel()
	var s seen
	st, out := startHooked(t, stackEnv(t, t.TempDir()), devstack.Hooks{
		AWS:   []func(*middleware.Stack) error{s.middleware},
		Model: func(m worker.Model) worker.Model { return countingModel{&s, m} },
		Handler: func(h esm.Handler) esm.Handler {
			return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				s.mu.Lock()
				s.invocations++
				s.mu.Unlock()
				return h(ctx, ev)
			}
		},
	})
	info := st.Info()
	u := signUp(t, info, out, nil)
	const prompt = "Count me"
	checkLocalAnswer(t, finished(t, info, u, submit(t, info, u, prompt)), prompt)

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range []string{"DynamoDB CreateTable", "DynamoDB TransactWriteItems", "SQS SendMessage",
		"Cognito Identity Provider GetUser", "SQS ReceiveMessage", "DynamoDB UpdateItem"} {
		if !slices.Contains(s.ops, op) {
			t.Errorf("the middleware did not see %s; it saw %v", op, s.ops)
		}
	}
	if s.models != 1 || s.invocations < 1 {
		t.Errorf("model calls %d, invocations %d; want 1 and at least 1", s.models, s.invocations)
	}
}

func TestAnExternalWorkerLeavesTheQueueToItsOwnPoller(t *testing.T) {
	t.Parallel()
	st, out := startHooked(t, stackEnv(t, t.TempDir()), devstack.Hooks{ExternalWorker: true})
	info := st.Info()
	u := signUp(t, info, out, nil)
	id := submit(t, info, u, "Nobody runs me here")

	// The message is still there for the outside worker.
	res, err := standin.SQS(info.SQSEndpoint).ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(info.QueueURLs[jobs.LaneInteractive]), WaitTimeSeconds: 5, MaxNumberOfMessages: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 {
		t.Fatalf("%d messages on the queue, want the job's one", len(res.Messages))
	}
	var m jobs.Message
	if err := json.Unmarshal([]byte(aws.ToString(res.Messages[0].Body)), &m); err != nil || m.JobID != id {
		t.Errorf("message %s (%v), want job %s", aws.ToString(res.Messages[0].Body), err, id)
	}
}
