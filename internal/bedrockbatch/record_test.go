package bedrockbatch_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/bedrockbatch"
	"github.com/promptq/promptq/internal/jobs"
)

func TestRecordLineIsAConverseRequest(t *testing.T) {
	temp := 0.2
	tests := []struct {
		name string
		job  jobs.Job
		want string
	}{
		{"prompt only", jobs.Job{ID: "j1", Prompt: "Hi"},
			`{"recordId":"j1","modelInput":{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}}`},
		{"system, max tokens and temperature", jobs.Job{ID: "j2", Prompt: "Hi", System: "Be brief.", MaxTokens: 300, Temperature: &temp},
			`{"recordId":"j2","modelInput":{"messages":[{"role":"user","content":[{"text":"Hi"}]}],` +
				`"system":[{"text":"Be brief."}],"inferenceConfig":{"maxTokens":300,"temperature":0.2}}}`},
		// The rule on-demand calls follow (jobs.Request.Params).
		{"Claude Haiku 4.5 takes a temperature and no effort", jobs.Job{ID: "j3", Prompt: "Hi", Model: haiku45, MaxTokens: 300, Temperature: &temp},
			`{"recordId":"j3","modelInput":{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":300,"temperature":0.2}}}`},
		{"Claude Haiku 5.5: no temperature, its effort, thinking off", jobs.Job{ID: "j4", Prompt: "Hi", Model: haiku55, MaxTokens: 300, Temperature: &temp, Effort: "medium"},
			`{"recordId":"j4","modelInput":{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":300},` +
				`"outputConfig":{"effort":"medium"},"additionalModelRequestFields":{"thinking":{"type":"disabled"}}}}`},
		{"Claude Haiku 5.5 left to think at xhigh", jobs.Job{ID: "j5", Prompt: "Hi", Model: haiku55, MaxTokens: 300, Effort: "xhigh"},
			`{"recordId":"j5","modelInput":{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":300},` +
				`"outputConfig":{"effort":"xhigh"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := bedrockbatch.NewRecord(tt.job).Line()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(line); got != tt.want+"\n" {
				t.Errorf("line\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

const (
	haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	haiku55 = "us.anthropic.claude-haiku-5-5"
)

func TestReadOutput(t *testing.T) {
	long := strings.Repeat("x", 200_000) // longer than bufio.Scanner's default line
	out := strings.Join([]string{
		// A reasoning block is not part of the text.
		`{"recordId":"b","modelInput":{"messages":[]},"modelOutput":{"output":{"message":{"role":"assistant","content":[` +
			`{"reasoningContent":{"reasoningText":{"text":"Think.","signature":"c2ln"}}},{"text":"Hel"},{"text":"lo"}]}},` +
			`"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":3,"totalTokens":15,"cacheReadInputTokens":1,"cacheWriteInputTokens":2}}}`,
		``,
		`{"recordId":"a","modelInput":{},"error":{"errorCode":400,"errorMessage":"Malformed input request"}}`,
		`{"recordId":"c","error":{"errorCode":"ThrottlingException","errorMessage":"later"}}`,
		`{"recordId":"d","modelOutput":{"output":{"message":{"content":[{"text":"` + long + `"}]}},"stopReason":"max_tokens","usage":{"inputTokens":1,"outputTokens":50000}}}`,
	}, "\n")
	var got []bedrockbatch.Result
	err := bedrockbatch.ReadOutput(strings.NewReader(out), func(r bedrockbatch.Result) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []bedrockbatch.Result{
		{RecordID: "b", Text: "Hello", StopReason: "end_turn", Tokens: jobs.Tokens{Input: 12, Output: 3, CacheRead: 1, CacheWrite: 2}},
		{RecordID: "a", Err: &bedrockbatch.RecordError{Code: "400", Message: "Malformed input request"}},
		{RecordID: "c", Err: &bedrockbatch.RecordError{Code: "ThrottlingException", Message: "later"}},
		{RecordID: "d", Text: long, StopReason: "max_tokens", Tokens: jobs.Tokens{Input: 1, Output: 50000}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results\n got %+v\nwant %+v", got, want)
	}
}

func TestReadOutputRefusesLinesThatAreNoResult(t *testing.T) {
	for name, line := range map[string]string{
		"not JSON":         `{"recordId":`,
		"no record id":     `{"modelOutput":{}}`,
		"neither":          `{"recordId":"a","modelInput":{}}`,
		"output not shape": `{"recordId":"a","modelOutput":"text"}`,
	} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			err := bedrockbatch.ReadOutput(strings.NewReader(`{"recordId":"ok","error":{"errorCode":500,"errorMessage":"x"}}`+"\n"+line+"\n"),
				func(bedrockbatch.Result) error { calls++; return nil })
			if !errors.Is(err, bedrockbatch.ErrMalformedOutput) || !strings.Contains(err.Error(), "line 2") {
				t.Errorf("err = %v, want ErrMalformedOutput on line 2", err)
			}
			if calls != 1 {
				t.Errorf("fn called %d times before the bad line, want 1", calls)
			}
		})
	}
}

func TestReadOutputStopsOnTheCallersError(t *testing.T) {
	stop := errors.New("stop")
	err := bedrockbatch.ReadOutput(strings.NewReader(`{"recordId":"a","error":{"errorCode":1,"errorMessage":""}}`+"\n"+`{"recordId":"b"`),
		func(bedrockbatch.Result) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the caller's", err)
	}
}

func TestReadManifest(t *testing.T) {
	m, err := bedrockbatch.ReadManifest(strings.NewReader(`{"totalRecordCount":100,"processedRecordCount":99,"successRecordCount":97,` +
		`"errorRecordCount":2,"inputTokenCount":1200,"outputTokenCount":3400}`))
	if err != nil {
		t.Fatal(err)
	}
	want := bedrockbatch.Manifest{TotalRecordCount: 100, ProcessedRecordCount: 99, SuccessRecordCount: 97,
		ErrorRecordCount: 2, InputTokenCount: 1200, OutputTokenCount: 3400}
	if m != want {
		t.Errorf("manifest = %+v, want %+v", m, want)
	}
	if _, err := bedrockbatch.ReadManifest(strings.NewReader("[]")); err == nil {
		t.Error("a manifest that is no object was read")
	}
}

// FuzzReadOutput: any bytes give results or an error, never a panic, and a
// result always names its record and has text or an error, not both.
func FuzzReadOutput(f *testing.F) {
	f.Add([]byte(`{"recordId":"a","modelOutput":{"output":{"message":{"content":[{"text":"x"}]}},"stopReason":"end_turn"}}`))
	f.Add([]byte(`{"recordId":"a","error":{"errorCode":400,"errorMessage":"bad"}}` + "\n\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = bedrockbatch.ReadOutput(strings.NewReader(string(b)), func(r bedrockbatch.Result) error {
			if r.RecordID == "" {
				t.Errorf("a result without a record id: %+v", r)
			}
			if r.Err != nil && (r.Text != "" || r.StopReason != "") {
				t.Errorf("a result with an error and output: %+v", r)
			}
			if _, err := json.Marshal(r.Err); err != nil {
				t.Error(err)
			}
			return nil
		})
	})
}

// A job's response format is its record's outputConfig.textFormat, as
// Converse takes it, and an output line gives it back with the result.
func TestARecordCarriesTheResponseFormat(t *testing.T) {
	t.Parallel()
	f := &jobs.ResponseFormat{Type: jobs.ResponseFormatJSONSchema, Name: "label", Schema: []byte(`{"type":"object"}`)}
	line, err := bedrockbatch.NewRecord(jobs.Job{ID: "j1", Prompt: "p", Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", MaxTokens: 10, ResponseFormat: f}).Line()
	if err != nil {
		t.Fatal(err)
	}
	const want = `"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\"}","name":"label"}}}}`
	if !strings.Contains(string(line), want) {
		t.Errorf("record %s lacks %s", line, want)
	}
	var in struct {
		ModelInput json.RawMessage `json:"modelInput"`
	}
	if err := json.Unmarshal(line, &in); err != nil {
		t.Fatal(err)
	}
	out := `{"recordId":"j1","modelInput":` + string(in.ModelInput) + `,"modelOutput":{"output":{"message":{"content":[{"text":"{}"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1}}}` + "\n"
	var got bedrockbatch.Result
	if err := bedrockbatch.ReadOutput(strings.NewReader(out), func(r bedrockbatch.Result) error { got = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if got.Format == nil || string(got.Format.Schema) != `{"type":"object"}` || got.Format.Name != "label" {
		t.Errorf("the output line's format = %+v, want the record's", got.Format)
	}
}
