package standin_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"
	"github.com/promptq/promptq/internal/dev/standin"
)

// logRecorder collects what the SDK logs, so a test can see warnings that
// would otherwise only reach stderr.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Logf(c logging.Classification, format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, string(c)+": "+fmt.Sprintf(format, v...))
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func TestKumoServesDynamoDBWithoutChecksumWarnings(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	var logs logRecorder
	db := standin.DynamoDB(k.URL, func(o *dynamodb.Options) { o.Logger = &logs })

	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if got := logs.String(); got != "" {
		t.Errorf("the SDK logged while talking to kumo:\n%s", got)
	}
}

func TestKumoServesSQS(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	name := standin.UniqueName(t)
	if _, err := k.SQS.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name)}); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	out, err := k.SQS.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetQueueUrl: %v", err)
	}
	if url := aws.ToString(out.QueueUrl); !strings.HasSuffix(url, "/"+name) {
		t.Errorf("queue URL %q does not end in the queue's name", url)
	}
}

func TestKumoListensOnLoopback(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	if !strings.HasPrefix(k.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:<port>", k.URL)
	}
}

func TestUniqueNameIsValidAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		name := standin.UniqueName(t)
		if seen[name] {
			t.Fatalf("UniqueName repeated %q", name)
		}
		seen[name] = true
		if len(name) < 3 || len(name) > 80 {
			t.Errorf("UniqueName = %q: length %d outside 3..80", name, len(name))
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				t.Errorf("UniqueName = %q: %q is not allowed in queue names", name, r)
			}
		}
	}
}
