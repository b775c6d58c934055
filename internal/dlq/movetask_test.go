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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
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
	// A 1-second visibility timeout, so that messages received and not
	// deleted come back, and go on to the dead-letter queue, quickly.
	urls, dlqURL, err := sqsqueue.CreateLaneQueues(ctx, client, "jobs", sqsqueue.QueueOptions{MaxReceiveCount: maxReceive, VisibilityTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	queues, err := sqsqueue.NewLanes(client, urls)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{
		t: t, sqs: client, table: name, urls: urls, queueURL: urls[jobs.LaneInteractive], dlqURL: dlqURL,
		store:  dynamo.New(k.DynamoDB, name, dynamo.Options{}),
		queue:  queues,
		dlq:    sqsqueue.NewDeadLetterQueue(client, dlqURL),
		devDir: t.TempDir(),
	}
	if err := devinfo.Write(b.devDir, devinfo.Info{Region: standin.Region, TableName: name, QueueURLs: urls, DLQURL: dlqURL,
		SQSEndpoint: endpoint, DynamoDBEndpoint: k.URL}); err != nil {
		t.Fatal(err)
	}
	// Jobs of both lanes whose messages reached the dead-letter queue as
	// in AWS, by the redrive policy, so that SQS knows where each came
	// from.
	var ids []string
	lanes := map[string]jobs.Lane{}
	for i, lane := range []jobs.Lane{jobs.LaneInteractive, jobs.LaneBulk, jobs.LaneBulk} {
		j := b.redrivenJob(fmt.Sprintf("Bulk %d.", i), lane)
		ids = append(ids, j.ID)
		lanes[j.ID] = lane
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
	// Each message went back to its own lane's queue.
	for _, lane := range jobs.Lanes {
		got, err := receiveJobsFrom(t, b, urls[lane])
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			want := 0
			if lanes[id] == lane {
				want = 1
			}
			if got[id] != want {
				t.Errorf("job %s (%s lane) has %d messages in the %s lane's queue, want %d", id, lanes[id], got[id], lane, want)
			}
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

// redrivenJob is a failed job of lane whose message reached the dead-letter
// queue through the redrive policy: received maxReceive times from its
// lane's queue and never deleted, as a worker that kept failing leaves it.
func (b *bundle) redrivenJob(prompt string, lane jobs.Lane) jobs.Job {
	b.t.Helper()
	ctx := b.t.Context()
	j, _, err := b.store.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: owner, Lane: lane, Prompt: prompt, Model: localmodel.ID, MaxTokens: 50}, "")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.queue.Send(ctx, j.Message()); err != nil {
		b.t.Fatal(err)
	}
	for moved := false; !moved; {
		out, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(b.urls[lane]), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			b.t.Fatal(err)
		}
		moved = len(out.Messages) == 0 && b.depth(b.dlqURL) > 0 && b.depth(b.urls[lane]) == 0
	}
	c, err := b.store.Claim(ctx, owner, j.ID, time.Minute)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.store.Fail(ctx, owner, j.ID, c.Attempts, jobs.Failure{Code: jobs.FailureRetries, Message: "Gave up."}); err != nil {
		b.t.Fatal(err)
	}
	return b.job(j.ID)
}
