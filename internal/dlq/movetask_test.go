package dlq_test

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/devstack/devinfo"
	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
	"github.com/promptq/promptq/internal/standin"
)

// localAWSSQS starts local-aws-sqs (npm, pinned and installed by `make
// tools`), an SQS stand-in that has message move tasks, on a free port of
// 127.0.0.1, and returns its endpoint. It stops when the test ends: the
// child exits when its stdin closes.
func localAWSSQS(t *testing.T) string {
	t.Helper()
	pkg := standin.RequireTool(t, filepath.Join("node", "node_modules", "local-aws-sqs", "package.json"))
	script := `const { createSqsServer } = require(process.argv[1]);
createSqsServer({ port: 0, hostname: "127.0.0.1", emulateQueueCreationLifecycle: false })
  .then((s) => console.log("listening " + s.address().port));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();`
	cmd := exec.Command("node", "-e", script, filepath.Dir(pkg))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start local-aws-sqs: %v", err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines := bufio.NewScanner(stdout)
	port := ""
	if lines.Scan() {
		port, _ = strings.CutPrefix(lines.Text(), "listening ")
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(exited)
	}()
	if port == "" {
		t.Fatalf("local-aws-sqs did not say where it listens (%v)", lines.Err())
	}
	return "http://127.0.0.1:" + port
}

// The bulk replay against an SQS stand-in that implements
// StartMessageMoveTask (the table stays on kumo): every job is requeued,
// SQS moves every message, and nothing is left behind. (local-aws-sqs
// reads only the deprecated AttributeNames of ReceiveMessage, so its
// listings have no sent time or receive count; SQS and kumo have both.)
func TestBulkReplayWithSQSsOwnMoveTask(t *testing.T) {
	t.Parallel()
	endpoint := localAWSSQS(t)
	ctx := t.Context()
	k := standin.Kumo(t)
	name := standin.UniqueName(t)
	if err := dynamo.CreateTable(ctx, k.DynamoDB, name); err != nil {
		t.Fatal(err)
	}
	client := standin.SQS(endpoint)
	queueURL, dlqURL, err := sqsqueue.CreateQueues(ctx, client, "jobs", sqsqueue.QueueOptions{MaxReceiveCount: maxReceive})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{
		t: t, sqs: client, table: name, queueURL: queueURL, dlqURL: dlqURL,
		store:  dynamo.New(k.DynamoDB, name, dynamo.Options{}),
		queue:  sqsqueue.New(client, queueURL),
		dlq:    sqsqueue.NewDeadLetterQueue(client, dlqURL),
		devDir: t.TempDir(),
	}
	if err := devinfo.Write(b.devDir, devinfo.Info{Region: standin.Region, TableName: name, QueueURL: queueURL, DLQURL: dlqURL,
		SQSEndpoint: endpoint, DynamoDBEndpoint: k.URL}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, b.deadJob(fmt.Sprintf("Bulk %d.", i)).ID)
	}

	if l := b.list(); len(l.Messages) != 3 || l.Messages[0].Status != "failed" {
		t.Fatalf("list on local-aws-sqs: %+v; want the 3 failed jobs", l)
	}
	if r := b.run("", false, "replay", "--bulk", "--dry-run"); r.code != dlq.ExitOK || !strings.Contains(r.stdout, "would then move all 3") {
		t.Errorf("replay --bulk --dry-run: exit %d, stdout %q", r.code, r.stdout)
	}
	r := b.run("", false, "replay", "--bulk")
	if r.code != dlq.ExitOK || !strings.Contains(r.stdout, "moved 3 messages") || !strings.Contains(r.stderr, "message move task started") {
		t.Fatalf("replay --bulk: exit %d, stdout %q; want a move task that moved 3", r.code, r.stdout)
	}
	for _, id := range ids {
		if st := b.job(id).Status; st != jobs.StatusQueued {
			t.Errorf("job %s is %s, want queued", id, st)
		}
	}
	got, err := receiveJobs(t, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("job %s has %d messages in the jobs queue, want 1", id, got[id])
		}
	}
	if n := b.depth(dlqURL); n != 0 {
		t.Errorf("the dead-letter queue holds %d messages, want 0", n)
	}

	// A second bulk replay finds nothing and starts no task.
	if r := b.run("", false, "replay", "--bulk"); r.code != dlq.ExitNothing || strings.Contains(r.stderr, "move task started") {
		t.Errorf("second replay --bulk: exit %d, stderr %q; want %d and no task", r.code, r.stderr, dlq.ExitNothing)
	}
}
