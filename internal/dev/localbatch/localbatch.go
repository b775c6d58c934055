// Package localbatch is a local stand-in for Amazon Bedrock's batch
// inference control plane (CreateModelInvocationJob, GetModelInvocationJob,
// ListModelInvocationJobs, StopModelInvocationJob), for make dev and the
// economy lane's tests. No emulator has it.
//
// It speaks the control plane's wire protocol (REST-JSON, errors named by
// the X-Amzn-ErrorType header), so the real aws-sdk-go-v2 bedrock client
// talks to it. A created job reads its JSONL input from S3 (the S3
// stand-in), runs each record's Converse request through a model (the
// local model), and writes what Bedrock documents: under the output URI, a
// folder named for the job id holding one <input file>.out per input file,
// a line per record in an order of its own ({recordId, modelInput,
// modelOutput} or {recordId, modelInput, error}), and manifest.json.out
// with the counts. Every change of a job's status is sent, as the
// "Batch Inference Job State Change" event Bedrock puts on EventBridge, to
// Options.OnEvent.
//
// Each record's request is answered as its model answers it on Bedrock
// (the local model checks it against the run's model's catalogue entry):
// one the model rejects, such as a temperature in a record for a Claude
// 5.5 model, is a record error 400 with Bedrock's message; its
// outputConfig.effort is the effort the model runs at; a refusal is an
// answer with stop reason "refusal", billed.
//
// It is a development tool: it keeps its jobs in memory and runs them one
// at a time, in the order they were created.
package localbatch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/jobs"
)

// Model generates one answer; the local model is one.
type Model interface {
	Generate(ctx context.Context, req jobs.Request, onDelta func(text string)) (jobs.Progress, error)
}

// Options configure a Server.
type Options struct {
	// S3 reads the input and writes the output.
	S3 *s3.Client
	// Model answers each record.
	Model Model
	// Region and Account name the jobs' ARNs and the events.
	Region, Account string
	// StartAfter is how long a job stays Submitted, then Scheduled,
	// before it runs (Bedrock's typically take minutes to hours).
	StartAfter time.Duration
	// MinRecords, if positive, fails a job with fewer records at
	// validation, as Bedrock's per-model minimum does.
	MinRecords int
	// OnEvent receives each state-change event, in order, as EventBridge
	// would deliver it to a rule's target. Nil: none are sent.
	OnEvent func(ctx context.Context, ev events.CloudWatchEvent)
	// Log receives what the stand-in does (never record contents).
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server is the stand-in, an http.Handler. Close stops its runs.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu     sync.Mutex
	jobs   []*job // in creation order
	byID   map[string]*job
	tokens map[string]*job // by client request token
	work   chan *job

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// job is one model invocation job. Its fields are guarded by Server.mu.
type job struct {
	id, arn, name, modelID, roleArn, token, invocationType string
	inputURI, outputURI                                    string
	status, message                                        string
	submitted, modified, ended                             time.Time
	total, processed, success, failed                      int64
	stop                                                   context.CancelFunc
	stopped                                                bool
}

// New starts a Server's runner; Close stops it.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, byID: map[string]*job{}, tokens: map[string]*job{},
		work: make(chan *job, 1024), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /model-invocation-job", s.create)
	s.mux.HandleFunc("GET /model-invocation-job/{id}", s.get)
	s.mux.HandleFunc("GET /model-invocation-jobs", s.list)
	s.mux.HandleFunc("POST /model-invocation-job/{id}/stop", s.stopJob)
	go s.runner()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the job running, if any, and the runner.
func (s *Server) Close() {
	s.cancel()
	<-s.done
}

// apiError is an error as the control plane answers it.
type apiError struct {
	status int
	code   string
	msg    string
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": e.msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func validation(format string, a ...any) apiError {
	return apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, a...)}
}

type createRequest struct {
	ClientRequestToken string `json:"clientRequestToken"`
	JobName            string `json:"jobName"`
	ModelID            string `json:"modelId"`
	RoleArn            string `json:"roleArn"`
	InvocationType     string `json:"modelInvocationType"`
	InputDataConfig    struct {
		S3 *struct {
			URI string `json:"s3Uri"`
		} `json:"s3InputDataConfig"`
	} `json:"inputDataConfig"`
	OutputDataConfig struct {
		S3 *struct {
			URI string `json:"s3Uri"`
		} `json:"s3OutputDataConfig"`
	} `json:"outputDataConfig"`
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, validation("request body: %v", err))
		return
	}
	switch {
	case req.JobName == "" || req.ModelID == "" || req.RoleArn == "":
		writeError(w, validation("jobName, modelId and roleArn are required"))
		return
	case req.InputDataConfig.S3 == nil || !strings.HasPrefix(req.InputDataConfig.S3.URI, "s3://"):
		writeError(w, validation("inputDataConfig.s3InputDataConfig.s3Uri must be an s3:// URI"))
		return
	case req.OutputDataConfig.S3 == nil || !strings.HasPrefix(req.OutputDataConfig.S3.URI, "s3://"):
		writeError(w, validation("outputDataConfig.s3OutputDataConfig.s3Uri must be an s3:// URI"))
		return
	case req.InvocationType != "" && req.InvocationType != "Converse" && req.InvocationType != "InvokeModel":
		writeError(w, validation("modelInvocationType %q is not InvokeModel or Converse", req.InvocationType))
		return
	case req.InvocationType != "Converse":
		// The local model answers Converse requests only.
		writeError(w, validation("this stand-in runs modelInvocationType Converse only"))
		return
	}
	s.mu.Lock()
	if j, ok := s.tokens[req.ClientRequestToken]; ok && req.ClientRequestToken != "" {
		// Bedrock's idempotency: the same token gives the same job.
		arn := j.arn
		s.mu.Unlock()
		writeJSON(w, map[string]string{"jobArn": arn})
		return
	}
	for _, j := range s.jobs {
		if j.name == req.JobName {
			s.mu.Unlock()
			writeError(w, apiError{http.StatusConflict, "ConflictException", "a job named " + req.JobName + " exists"})
			return
		}
	}
	now := s.opts.Now()
	id := newJobID()
	j := &job{id: id, arn: fmt.Sprintf("arn:aws:bedrock:%s:%s:model-invocation-job/%s", s.opts.Region, s.opts.Account, id),
		name: req.JobName, modelID: req.ModelID, roleArn: req.RoleArn, token: req.ClientRequestToken,
		invocationType: req.InvocationType, inputURI: req.InputDataConfig.S3.URI, outputURI: req.OutputDataConfig.S3.URI,
		status: "Submitted", submitted: now, modified: now}
	s.jobs = append(s.jobs, j)
	s.byID[id] = j
	if j.token != "" {
		s.tokens[j.token] = j
	}
	s.mu.Unlock()
	s.opts.Log.Info("batch job created", "job", j.arn, "name", j.name, "model", j.modelID)
	s.emit(j)
	select {
	case s.work <- j:
	default:
		s.setStatus(j, "Failed", "the stand-in's queue of jobs is full")
	}
	writeJSON(w, map[string]string{"jobArn": j.arn})
}

// lookup finds a job by its id or ARN (the path's last segment).
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *job {
	ident := r.PathValue("id")
	id := ident[strings.LastIndex(ident, "/")+1:]
	s.mu.Lock()
	j, ok := s.byID[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "no model invocation job " + ident})
		return nil
	}
	return j
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	if j := s.lookup(w, r); j != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, j.view())
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, j := range s.jobs {
		if st := q.Get("statusEquals"); st != "" && j.status != st {
			continue
		}
		if n := q.Get("nameContains"); n != "" && !strings.Contains(j.name, n) {
			continue
		}
		out = append(out, j.view())
	}
	// Newest first, as sortOrder's default (Descending) gives.
	slices.Reverse(out)
	writeJSON(w, map[string]any{"invocationJobSummaries": out})
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request) {
	j := s.lookup(w, r)
	if j == nil {
		return
	}
	s.mu.Lock()
	if ended(j.status) {
		st := j.status
		s.mu.Unlock()
		writeError(w, validation("the job is %s and cannot be stopped", st))
		return
	}
	j.stopped = true
	if j.stop != nil {
		j.stop()
	}
	s.mu.Unlock()
	s.setStatus(j, "Stopping", "")
	writeJSON(w, map[string]any{})
}

func ended(status string) bool {
	switch status {
	case "Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired":
		return true
	}
	return false
}

// view is j as GetModelInvocationJob answers and a list summarizes it.
// The caller holds s.mu.
func (j *job) view() map[string]any {
	v := map[string]any{
		"jobArn": j.arn, "jobName": j.name, "modelId": j.modelID, "roleArn": j.roleArn,
		"status": j.status, "modelInvocationType": j.invocationType,
		"submitTime": j.submitted.UTC().Format(time.RFC3339Nano), "lastModifiedTime": j.modified.UTC().Format(time.RFC3339Nano),
		"inputDataConfig":  map[string]any{"s3InputDataConfig": map[string]any{"s3Uri": j.inputURI, "s3InputFormat": "JSONL"}},
		"outputDataConfig": map[string]any{"s3OutputDataConfig": map[string]any{"s3Uri": j.outputURI}},
		"totalRecordCount": j.total, "processedRecordCount": j.processed,
		"successRecordCount": j.success, "errorRecordCount": j.failed,
	}
	if j.token != "" {
		v["clientRequestToken"] = j.token
	}
	if j.message != "" {
		v["message"] = j.message
	}
	if !j.ended.IsZero() {
		v["endTime"] = j.ended.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// setStatus moves j to status (with message, for a failure) and sends the
// event. A stopped job's later statuses are Stopping and Stopped only.
func (s *Server) setStatus(j *job, status, message string) {
	s.mu.Lock()
	if ended(j.status) || (j.stopped && status != "Stopping" && status != "Stopped") {
		s.mu.Unlock()
		return
	}
	j.status, j.message, j.modified = status, message, s.opts.Now()
	if ended(status) {
		j.ended = j.modified
	}
	s.mu.Unlock()
	s.opts.Log.Info("batch job status", "job", j.arn, "status", status, "message", message)
	s.emit(j)
}

// emit sends j's state-change event as Bedrock puts it on EventBridge.
func (s *Server) emit(j *job) {
	if s.opts.OnEvent == nil {
		return
	}
	s.mu.Lock()
	detail, _ := json.Marshal(map[string]any{
		"version": "0.0", "accountId": s.opts.Account,
		"batchJobName": j.name, "batchJobArn": j.arn, "batchModelId": j.modelID,
		"status": j.status, "failureMessage": j.message,
		"processedRecordCount": j.processed, "successRecordCount": j.success, "errorRecordCount": j.failed,
	})
	at := j.modified
	s.mu.Unlock()
	s.opts.OnEvent(s.ctx, events.CloudWatchEvent{
		Version: "0", ID: newJobID(), DetailType: "Batch Inference Job State Change", Source: "aws.bedrock",
		AccountID: s.opts.Account, Time: at.UTC(), Region: s.opts.Region, Resources: []string{j.arn}, Detail: detail,
	})
}

// runner runs the jobs one at a time, in the order they were created.
func (s *Server) runner() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case j := <-s.work:
			s.run(j)
		}
	}
}

func (s *Server) run(j *job) {
	s.setStatus(j, "Validating", "")
	records, file, err := s.readInput(s.ctx, j.inputURI)
	if err != nil {
		s.setStatus(j, "Failed", err.Error())
		return
	}
	if s.opts.MinRecords > 0 && len(records) < s.opts.MinRecords {
		s.setStatus(j, "Failed", fmt.Sprintf("the job has %d records; the minimum is %d", len(records), s.opts.MinRecords))
		return
	}
	s.mu.Lock()
	j.total = int64(len(records))
	ctx, stop := context.WithCancel(s.ctx)
	defer stop()
	j.stop = stop
	if j.stopped {
		stop() // stopped before it ran
	}
	s.mu.Unlock()
	s.setStatus(j, "Scheduled", "")
	select {
	case <-time.After(s.opts.StartAfter):
	case <-ctx.Done():
	}
	s.setStatus(j, "InProgress", "")

	var out bytes.Buffer
	var manifest struct {
		Total     int64 `json:"totalRecordCount"`
		Processed int64 `json:"processedRecordCount"`
		Success   int64 `json:"successRecordCount"`
		Errors    int64 `json:"errorRecordCount"`
		In        int64 `json:"inputTokenCount"`
		Out       int64 `json:"outputTokenCount"`
	}
	manifest.Total = int64(len(records))
	// Output order is Bedrock's own: here, every odd record first.
	order := make([]int, 0, len(records))
	for i := 1; i < len(records); i += 2 {
		order = append(order, i)
	}
	for i := 0; i < len(records); i += 2 {
		order = append(order, i)
	}
	for _, i := range order {
		if ctx.Err() != nil {
			break
		}
		line, ok, tokens := s.answer(ctx, j.modelID, records[i])
		if ctx.Err() != nil {
			break // stopped while it ran: not processed
		}
		out.Write(line)
		out.WriteByte('\n')
		manifest.Processed++
		manifest.In += int64(tokens.Input)
		manifest.Out += int64(tokens.Output)
		s.mu.Lock()
		j.processed++
		if ok {
			j.success++
			manifest.Success++
		} else {
			j.failed++
			manifest.Errors++
		}
		s.mu.Unlock()
	}
	prefix := strings.TrimSuffix(j.outputURI, "/") + "/" + j.id + "/"
	mb, _ := json.Marshal(manifest)
	if err := s.put(context.WithoutCancel(ctx), prefix+path.Base(file)+".out", out.Bytes()); err != nil {
		s.setStatus(j, "Failed", "write output: "+err.Error())
		return
	}
	if err := s.put(context.WithoutCancel(ctx), prefix+"manifest.json.out", mb); err != nil {
		s.setStatus(j, "Failed", "write manifest: "+err.Error())
		return
	}
	switch {
	case s.ctx.Err() != nil:
		// The stand-in is closing; the job is left as it is.
	case ctx.Err() != nil:
		s.setStatus(j, "Stopped", "")
	default:
		s.setStatus(j, "Completed", "")
	}
}

// inputLine is an input record as read: modelInput is kept raw for the
// output line, and read as a Converse request for the model.
type inputLine struct {
	RecordID   string          `json:"recordId"`
	ModelInput json.RawMessage `json:"modelInput"`
}

// answer runs one record and returns its output line, whether it
// succeeded, and its tokens.
func (s *Server) answer(ctx context.Context, model string, rec inputLine) ([]byte, bool, jobs.Tokens) {
	var in struct {
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"messages"`
		System []struct {
			Text string `json:"text"`
		} `json:"system"`
		InferenceConfig struct {
			MaxTokens   int      `json:"maxTokens"`
			Temperature *float64 `json:"temperature"`
		} `json:"inferenceConfig"`
		OutputConfig bedrockbatch.OutputConfig `json:"outputConfig"`
	}
	fail := func(code int, msg string) ([]byte, bool, jobs.Tokens) {
		b, _ := json.Marshal(map[string]any{"recordId": rec.RecordID, "modelInput": rec.ModelInput,
			"error": map[string]any{"errorCode": code, "errorMessage": msg}})
		return b, false, jobs.Tokens{}
	}
	if err := json.Unmarshal(rec.ModelInput, &in); err != nil || len(in.Messages) == 0 || in.Messages[0].Role != "user" {
		return fail(400, "Malformed input request: the record is not a Converse request with a user message")
	}
	req := jobs.Request{Model: model, MaxTokens: in.InferenceConfig.MaxTokens, Temperature: in.InferenceConfig.Temperature,
		Effort: in.OutputConfig.Effort, ResponseFormat: in.OutputConfig.TextFormat.Format()}
	for _, c := range in.Messages[0].Content {
		req.Prompt += c.Text
	}
	for _, c := range in.System {
		req.System += c.Text
	}
	p, err := s.opts.Model.Generate(ctx, req, func(string) {})
	var (
		rejected *localmodel.ValidationError
		je       *jobs.Error
	)
	switch {
	case errors.Is(err, jobs.ErrRefused):
		// A refusal is an answer, billed, with its stop reason, as on
		// demand: the record succeeds.
	case errors.As(err, &rejected):
		// What the model rejects, with Bedrock's message, as Bedrock
		// writes a record it could not run.
		return fail(400, rejected.Message)
	case errors.As(err, &je) && je.Kind == jobs.KindInvalid:
		return fail(400, err.Error())
	case err != nil:
		return fail(500, err.Error())
	}
	b, _ := json.Marshal(map[string]any{"recordId": rec.RecordID, "modelInput": rec.ModelInput,
		"modelOutput": map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]string{"text": p.GeneratedText}}}},
			"stopReason": p.StopReason,
			"usage": map[string]int{"inputTokens": p.Tokens.Input, "outputTokens": p.Tokens.Output,
				"totalTokens": p.Tokens.Input + p.Tokens.Output},
		}})
	return b, true, p.Tokens
}

// readInput reads the records of the input URI: one .jsonl object, or
// the first under a prefix.
func (s *Server) readInput(ctx context.Context, uri string) ([]inputLine, string, error) {
	bucket, key, err := splitURI(uri)
	if err != nil {
		return nil, "", err
	}
	if !strings.HasSuffix(key, ".jsonl") {
		out, err := s.opts.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		if err != nil {
			return nil, "", fmt.Errorf("list the input: %w", err)
		}
		key = ""
		for _, o := range out.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), ".jsonl") {
				key = aws.ToString(o.Key)
				break
			}
		}
		if key == "" {
			return nil, "", fmt.Errorf("no .jsonl file under %s", uri)
		}
	}
	obj, err := s.opts.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, "", fmt.Errorf("read the input %s: %w", uri, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read the input %s: %w", uri, err)
	}
	var records []inputLine
	for n, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec inputLine
		if err := json.Unmarshal(line, &rec); err != nil || rec.ModelInput == nil {
			return nil, "", fmt.Errorf("line %d of the input is not a record", n+1)
		}
		if rec.RecordID == "" {
			// Bedrock names a record without an id itself.
			rec.RecordID = fmt.Sprintf("%011d", n+1)
		}
		records = append(records, rec)
	}
	return records, key, nil
}

func (s *Server) put(ctx context.Context, uri string, body []byte) error {
	bucket, key, err := splitURI(uri)
	if err != nil {
		return err
	}
	_, err = s.opts.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	return err
}

func splitURI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("%q is not an s3:// URI", uri)
	}
	return bucket, key, nil
}

// newJobID is a job id as Bedrock's: 12 lower-case letters and digits.
func newJobID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}
