package sqsqueue_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// setup makes a fresh queue pair on kumo.
func setup(t *testing.T, opts sqsqueue.QueueOptions) (client *sqs.Client, queueURL, dlqURL string) {
	t.Helper()
	k := standin.Kumo(t)
	queueURL, dlqURL, err := sqsqueue.CreateQueues(t.Context(), k.SQS, standin.UniqueName(t), opts)
	if err != nil {
		t.Fatalf("CreateQueues: %v", err)
	}
	return k.SQS, queueURL, dlqURL
}

func messages(n int) []jobs.Message {
	ms := make([]jobs.Message, n)
	for i := range ms {
		ms[i] = jobs.Message{JobID: jobs.NewID(), Owner: "sub-" + strings.Repeat("x", i%3)}
	}
	return ms
}

// receive reads up to n messages from url, making each visible again at
// once so a later receive can see it (the redrive test counts receives).
func receive(t *testing.T, client *sqs.Client, url string, max int32) []types.Message {
	t.Helper()
	out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         max,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func TestSendPutsTheMessageJSONOnTheQueue(t *testing.T) {
	t.Parallel()
	client, url, _ := setup(t, sqsqueue.QueueOptions{})
	q := sqsqueue.New(client, url)
	m := jobs.Message{JobID: jobs.NewID(), Owner: "sub-1"}
	if err := q.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := receive(t, client, url, 10)
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	body := aws.ToString(got[0].Body)
	if want := `{"job_id":"` + m.JobID + `","owner":"sub-1"}`; body != want {
		t.Errorf("body = %s, want %s", body, want)
	}
	parsed, err := sqsqueue.ParseMessage(body)
	if err != nil || parsed != m {
		t.Errorf("ParseMessage = %+v, %v; want %+v", parsed, err, m)
	}
}

func TestSendRejectsAnIncompleteMessage(t *testing.T) {
	t.Parallel()
	client, url, _ := setup(t, sqsqueue.QueueOptions{})
	q := sqsqueue.New(client, url)
	for _, m := range []jobs.Message{{JobID: jobs.NewID()}, {Owner: "sub-1"}} {
		if err := q.Send(t.Context(), m); err == nil {
			t.Errorf("Send(%+v) succeeded", m)
		}
	}
	if got := receive(t, client, url, 10); len(got) != 0 {
		t.Errorf("%d messages were queued, want none", len(got))
	}
}

func TestSendBatchOf25(t *testing.T) {
	t.Parallel()
	client, url, _ := setup(t, sqsqueue.QueueOptions{VisibilityTimeout: time.Hour})
	q := sqsqueue.New(client, url)
	ms := messages(25)
	errs := q.SendBatch(t.Context(), ms)
	if len(errs) != len(ms) {
		t.Fatalf("SendBatch returned %d errors for %d messages", len(errs), len(ms))
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}

	var got []jobs.Message
	// Each receive returns at least one of the remaining messages; the
	// bound only stops a broken queue from looping forever.
	for range 25 {
		if len(got) == len(ms) {
			break
		}
		for _, m := range receive(t, client, url, 10) {
			parsed, err := sqsqueue.ParseMessage(aws.ToString(m.Body))
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			got = append(got, parsed)
		}
	}
	byID := func(a, b jobs.Message) int { return strings.Compare(a.JobID, b.JobID) }
	slices.SortFunc(got, byID)
	want := slices.Clone(ms)
	slices.SortFunc(want, byID)
	if !slices.Equal(got, want) {
		t.Errorf("received %d messages %v,\nwant the %d sent %v", len(got), got, len(want), want)
	}
}

func TestSendBatchOfNothingSendsNothing(t *testing.T) {
	t.Parallel()
	q := sqsqueue.New(standin.SQS(closedURL(t)), "http://127.0.0.1/000000000000/none")
	if errs := q.SendBatch(t.Context(), nil); len(errs) != 0 {
		t.Errorf("SendBatch(nil) = %v, want no errors", errs)
	}
}

func TestSendBatchToAMissingQueueFailsEveryEntry(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	q := sqsqueue.New(k.SQS, k.URL+"/000000000000/"+standin.UniqueName(t))
	ms := messages(12)
	for i, err := range q.SendBatch(t.Context(), ms) {
		if err == nil || !strings.Contains(err.Error(), ms[i].JobID) {
			t.Errorf("entry %d: error %v, want one naming job %s", i, err, ms[i].JobID)
		}
	}
}

func TestChangeVisibilityOfAnUnknownHandleFails(t *testing.T) {
	t.Parallel()
	client, url, _ := setup(t, sqsqueue.QueueOptions{})
	if err := sqsqueue.New(client, url).ChangeVisibility(t.Context(), "no-such-handle", time.Second); err == nil {
		t.Error("ChangeVisibility of an unknown receipt handle succeeded")
	}
}

func TestChangeVisibilityHidesTheMessage(t *testing.T) {
	t.Parallel()
	client, url, _ := setup(t, sqsqueue.QueueOptions{})
	q := sqsqueue.New(client, url)
	if err := q.Send(t.Context(), messages(1)[0]); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := receive(t, client, url, 1)
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	if err := q.ChangeVisibility(t.Context(), aws.ToString(got[0].ReceiptHandle), 0); err != nil {
		t.Fatalf("ChangeVisibility(0): %v", err)
	}
	again := receive(t, client, url, 1)
	if len(again) != 1 || aws.ToString(again[0].MessageId) != aws.ToString(got[0].MessageId) {
		t.Fatalf("after ChangeVisibility(0) the message was not visible again: %v", again)
	}
	if err := q.ChangeVisibility(t.Context(), aws.ToString(again[0].ReceiptHandle), time.Hour); err != nil {
		t.Fatalf("ChangeVisibility(1h): %v", err)
	}
	if hidden := receive(t, client, url, 1); len(hidden) != 0 {
		t.Errorf("after ChangeVisibility(1h) the message was received again")
	}
}

// TestRedriveToDLQ delivers a message that no one deletes until SQS gives
// up on it: after MaxReceiveCount receives it is in the dead-letter queue.
func TestRedriveToDLQ(t *testing.T) {
	t.Parallel()
	const maxReceives = 3
	client, url, dlqURL := setup(t, sqsqueue.QueueOptions{MaxReceiveCount: maxReceives})
	q := sqsqueue.New(client, url)
	m := messages(1)[0]
	if err := q.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	receives := 0
	for range maxReceives + 2 {
		got := receive(t, client, url, 1)
		if len(got) == 0 {
			break
		}
		receives++
		if n := got[0].Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; n != strconv.Itoa(receives) {
			t.Errorf("receive %d: ApproximateReceiveCount = %s", receives, n)
		}
		// A worker that fails without deleting: back to the queue at once.
		if err := q.ChangeVisibility(t.Context(), aws.ToString(got[0].ReceiptHandle), 0); err != nil {
			t.Fatalf("ChangeVisibility: %v", err)
		}
	}
	if receives != maxReceives {
		t.Errorf("the message was received %d times, want %d", receives, maxReceives)
	}
	dead := receive(t, client, dlqURL, 10)
	if len(dead) != 1 {
		t.Fatalf("dead-letter queue holds %d messages, want 1", len(dead))
	}
	if got, err := sqsqueue.ParseMessage(aws.ToString(dead[0].Body)); err != nil || got != m {
		t.Errorf("dead letter = %+v, %v; want %+v", got, err, m)
	}
}

func TestCreateQueuesIsIdempotentAndConverges(t *testing.T) {
	t.Parallel()
	k := standin.Kumo(t)
	name := standin.UniqueName(t)
	url1, dlq1, err := sqsqueue.CreateQueues(t.Context(), k.SQS, name, sqsqueue.QueueOptions{VisibilityTimeout: 90 * time.Second})
	if err != nil {
		t.Fatalf("CreateQueues: %v", err)
	}
	if !strings.HasSuffix(url1, "/"+name) || !strings.HasSuffix(dlq1, "/"+name+"-dlq") {
		t.Errorf("URLs %s and %s do not end in %s and %s-dlq", url1, dlq1, name, name)
	}
	checkAttrs(t, k.SQS, url1, dlq1, 5, "90")

	url2, dlq2, err := sqsqueue.CreateQueues(t.Context(), k.SQS, name, sqsqueue.QueueOptions{VisibilityTimeout: 90 * time.Second})
	if err != nil {
		t.Fatalf("second CreateQueues: %v", err)
	}
	if url2 != url1 || dlq2 != dlq1 {
		t.Errorf("second CreateQueues gave %s, %s; want the first's %s, %s", url2, dlq2, url1, dlq1)
	}

	if _, _, err := sqsqueue.CreateQueues(t.Context(), k.SQS, name, sqsqueue.QueueOptions{MaxReceiveCount: 2, VisibilityTimeout: 10 * time.Second}); err != nil {
		t.Fatalf("CreateQueues with new options: %v", err)
	}
	checkAttrs(t, k.SQS, url1, dlq1, 2, "10")

	list, err := k.SQS.ListQueues(t.Context(), &sqs.ListQueuesInput{QueueNamePrefix: aws.String(name)})
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	if len(list.QueueUrls) != 2 {
		t.Errorf("queues named %s*: %v, want the queue and its DLQ", name, list.QueueUrls)
	}
}

func checkAttrs(t *testing.T, client *sqs.Client, url, dlqURL string, maxReceives int, visibility string) {
	t.Helper()
	get := func(u string) map[string]string {
		out, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		return out.Attributes
	}
	main, dlq := get(url), get(dlqURL)
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(main["RedrivePolicy"]), &rp); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", main["RedrivePolicy"], err)
	}
	if rp.DeadLetterTargetArn != dlq["QueueArn"] || rp.MaxReceiveCount != maxReceives {
		t.Errorf("RedrivePolicy = %+v, want target %s after %d receives", rp, dlq["QueueArn"], maxReceives)
	}
	if main["VisibilityTimeout"] != visibility {
		t.Errorf("VisibilityTimeout = %s, want %s", main["VisibilityTimeout"], visibility)
	}
	if dlq["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("DLQ MessageRetentionPeriod = %s, want 14 days", dlq["MessageRetentionPeriod"])
	}
}

// batchServer answers SendMessageBatch the way SQS does when some entries
// fail, so the retry of entries failed on SQS's side can be tested with the
// real client. fail maps an entry's message body to the failure to report,
// per call (calls[0] is the first request).
type batchServer struct {
	mu    sync.Mutex
	fail  []map[string]types.BatchResultErrorEntry
	calls [][]string // message bodies per request
}

func (s *batchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Entries []struct{ Id, MessageBody string }
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &req); err != nil || r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	call := len(s.calls)
	var bodies []string
	for _, e := range req.Entries {
		bodies = append(bodies, e.MessageBody)
	}
	s.calls = append(s.calls, bodies)
	var fail map[string]types.BatchResultErrorEntry
	if call < len(s.fail) {
		fail = s.fail[call]
	}
	s.mu.Unlock()

	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type failed struct {
		Id, Code, Message string
		SenderFault       bool
	}
	var resp struct {
		Successful []ok
		Failed     []failed
	}
	for _, e := range req.Entries {
		if f, bad := fail[e.MessageBody]; bad {
			resp.Failed = append(resp.Failed, failed{e.Id, aws.ToString(f.Code), "injected", f.SenderFault})
			continue
		}
		sum := md5.Sum([]byte(e.MessageBody))
		resp.Successful = append(resp.Successful, ok{e.Id, "m-" + e.Id, hex.EncodeToString(sum[:])})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(resp)
}

func TestSendBatchRetriesEntriesFailedOnSQSsSideOnce(t *testing.T) {
	t.Parallel()
	ms := messages(3)
	body := func(m jobs.Message) string { b, _ := json.Marshal(m); return string(b) }
	internal := types.BatchResultErrorEntry{Code: aws.String("InternalError"), SenderFault: false}
	invalid := types.BatchResultErrorEntry{Code: aws.String("InvalidMessageContents"), SenderFault: true}

	tests := []struct {
		name      string
		fail      []map[string]types.BatchResultErrorEntry
		wantKinds []jobs.Kind // per message; "" for success
		wantCalls [][]string
	}{
		{
			name:      "a server-side failure that passes on retry",
			fail:      []map[string]types.BatchResultErrorEntry{{body(ms[1]): internal, body(ms[2]): invalid}},
			wantKinds: []jobs.Kind{"", "", jobs.KindInternal},
			wantCalls: [][]string{{body(ms[0]), body(ms[1]), body(ms[2])}, {body(ms[1])}},
		},
		{
			name:      "a server-side failure that persists",
			fail:      []map[string]types.BatchResultErrorEntry{{body(ms[0]): internal}, {body(ms[0]): internal}},
			wantKinds: []jobs.Kind{jobs.KindUnavailable, "", ""},
			wantCalls: [][]string{{body(ms[0]), body(ms[1]), body(ms[2])}, {body(ms[0])}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &batchServer{fail: tt.fail}
			hs := httptest.NewServer(srv)
			t.Cleanup(hs.Close)
			q := sqsqueue.New(standin.SQS(hs.URL), hs.URL+"/000000000000/jobs")

			errs := q.SendBatch(t.Context(), ms)
			for i, err := range errs {
				if got := jobs.KindOf(err); got != tt.wantKinds[i] {
					t.Errorf("entry %d: kind %q (error %v), want %q", i, got, err, tt.wantKinds[i])
				}
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if !slices.EqualFunc(srv.calls, tt.wantCalls, slices.Equal) {
				t.Errorf("requests carried %v,\nwant %v", srv.calls, tt.wantCalls)
			}
		})
	}
}

func TestErrorsBecomeKinds(t *testing.T) {
	t.Parallel()
	throttled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}`))
	}))
	t.Cleanup(throttled.Close)
	missing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}`))
	}))
	t.Cleanup(missing.Close)
	// An answer that breaks off: 200, then less body than announced.
	cutOff := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"MessageId":"`))
	}))
	t.Cleanup(cutOff.Close)

	tests := []struct {
		name     string
		endpoint string
		want     jobs.Kind
	}{
		{"throttled", throttled.URL, jobs.KindUnavailable},
		{"connection refused", closedURL(t), jobs.KindUnavailable},
		{"an answer cut off mid-body", cutOff.URL, jobs.KindUnavailable},
		{"missing queue", missing.URL, jobs.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := standin.SQS(tt.endpoint, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
			q := sqsqueue.New(client, tt.endpoint+"/000000000000/jobs")
			m := messages(1)[0]
			err := q.Send(t.Context(), m)
			if got := jobs.KindOf(err); got != tt.want {
				t.Errorf("Send: kind %q (error %v), want %q", got, err, tt.want)
			}
			batchErrs := q.SendBatch(t.Context(), []jobs.Message{m})
			if got := jobs.KindOf(batchErrs[0]); got != tt.want {
				t.Errorf("SendBatch: kind %q (error %v), want %q", got, batchErrs[0], tt.want)
			}
		})
	}
}

func TestParseMessageRejectsWhatSendNeverWrites(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "{}", `{"job_id":"x"}`, `{"owner":"y"}`, "not json", `["x"]`} {
		if m, err := sqsqueue.ParseMessage(body); err == nil {
			t.Errorf("ParseMessage(%q) = %+v, want an error", body, m)
		}
	}
}

// closedURL returns the URL of a port on 127.0.0.1 that nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	return url
}
