package jobs

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeRequestAppliesDefaults(t *testing.T) {
	t.Parallel()
	r, err := DecodeRequest([]byte(`{"prompt":"Write a haiku"}`), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxTokens != 1024 || r.Model != DefaultModel || r.Temperature != nil || r.System != "" || r.Effort != "medium" {
		t.Errorf("defaults not applied: %+v", r)
	}
}

func TestDecodeRequestAcceptsEveryField(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	l.Models = append(l.Models, "other")
	r, err := DecodeRequest([]byte(`{"prompt":"p","system":"s","max_tokens":8192,"temperature":0,"model":"other"}`), l)
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxTokens != 8192 || r.Model != "other" || r.Temperature == nil || *r.Temperature != 0 || r.System != "s" {
		t.Errorf("got %+v", r)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	l.Models = []string{haiku45, DefaultModel}
	l.DefaultModel = haiku45
	l.MaxPromptChars = 10
	l.MaxSystemChars = 5
	tests := []struct {
		name, body, field, inMessage string
	}{
		{"empty body", ``, "body", "empty"},
		{"not JSON", `prompt=hi`, "body", "not valid JSON"},
		{"truncated JSON", `{"prompt":"hi"`, "body", "not valid JSON"},
		{"array", `["hi"]`, "body", "JSON object"},
		{"two objects", `{"prompt":"a"}{"prompt":"b"}`, "body", "single JSON object"},
		{"missing prompt", `{}`, "prompt", "required"},
		{"null prompt", `{"prompt":null}`, "prompt", "required"},
		{"blank prompt", `{"prompt":" \n\t"}`, "prompt", "blank"},
		{"prompt too long", `{"prompt":"12345678901"}`, "prompt", "at most 10 characters"},
		{"prompt wrong type", `{"prompt":42}`, "prompt", "a string"},
		{"system too long", `{"prompt":"p","system":"123456"}`, "system", "at most 5"},
		{"max_tokens zero", `{"prompt":"p","max_tokens":0}`, "max_tokens", "1 to 64000"},
		{"max_tokens too big", `{"prompt":"p","max_tokens":64001}`, "max_tokens", "1 to 64000, the most Claude Haiku 4.5"},
		{"max_tokens fraction", `{"prompt":"p","max_tokens":1.5}`, "max_tokens", "an integer"},
		{"max_tokens string", `{"prompt":"p","max_tokens":"10"}`, "max_tokens", "an integer"},
		{"temperature high", `{"prompt":"p","temperature":1.01}`, "temperature", "0 to 1"},
		{"temperature negative", `{"prompt":"p","temperature":-0.1}`, "temperature", "0 to 1"},
		{"model not allowed", `{"prompt":"p","model":"gpt-4"}`, "model", "must be one of"},
		{"temperature on a 5.5 model", `{"prompt":"p","temperature":0.5,"model":"` + DefaultModel + `"}`, "temperature", "Claude Haiku 5.5 (us.anthropic.claude-haiku-5-5) takes no temperature"},
		{"temperature 0 on a 5.5 model", `{"prompt":"p","temperature":0,"model":"` + DefaultModel + `"}`, "temperature", "takes no temperature"},
		{"effort on a model without", `{"prompt":"p","effort":"low"}`, "effort", "Claude Haiku 4.5 (" + haiku45 + ") takes no effort level"},
		{"an unknown effort", `{"prompt":"p","effort":"extreme","model":"` + DefaultModel + `"}`, "effort", "one of: low, medium, high, xhigh, max"},
		{"effort wrong type", `{"prompt":"p","effort":3,"model":"` + DefaultModel + `"}`, "effort", "a string"},
		{"unknown field", `{"prompt":"p","stream":true}`, "stream", "not a known field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tt.body), l)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != KindInvalid || e.Field != tt.field || !strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("got kind %s field %q message %q; want invalid_request, %q, containing %q", e.Kind, e.Field, e.Message, tt.field, tt.inMessage)
			}
		})
	}
}

func TestPromptLimitCountsCharactersNotBytes(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	l.MaxPromptChars = 3
	if _, err := DecodeRequest([]byte(`{"prompt":"日本語"}`), l); err != nil {
		t.Errorf("three characters (nine bytes) rejected: %v", err)
	}
}

func TestFingerprintTellsBodiesApart(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	a, _ := DecodeRequest([]byte(`{"prompt":"a"}`), l)
	a2, _ := DecodeRequest([]byte(`{ "max_tokens": 1024, "prompt": "a" }`), l)
	b, _ := DecodeRequest([]byte(`{"prompt":"b"}`), l)
	if a.Fingerprint() != a2.Fingerprint() {
		t.Error("the same request written two ways has two fingerprints")
	}
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("different prompts share a fingerprint")
	}
}

func TestBatchEntry(t *testing.T) {
	t.Parallel()
	r, key, err := Batch{Lane: LaneBulk}.Entry([]byte(`{"prompt":"p","idempotency_key":"line-1"}`), DefaultLimits())
	if err != nil || key != "line-1" || r.Prompt != "p" || r.Lane != LaneBulk {
		t.Fatalf("got %+v %q %v", r, key, err)
	}
	_, _, err = Batch{Lane: LaneBulk}.Entry([]byte(`{"prompt":5}`), DefaultLimits())
	var fe *Error
	if !errors.As(err, &fe) || fe.Field != "prompt" || !strings.HasPrefix(fe.Message, "prompt must be a string") {
		t.Errorf("wrong type in an entry: %v, want the field named prompt", err)
	}
	_, _, err = Batch{Lane: LaneBulk}.Entry([]byte(`{"prompt":"p","idempotency_key":""}`), DefaultLimits())
	var e *Error
	if !errors.As(err, &e) || e.Field != "idempotency_key" {
		t.Errorf("empty key: err = %v, want invalid idempotency_key", err)
	}
	_, _, err = Batch{Lane: LaneBulk}.Entry([]byte(`{"prompt":"p","lane":"interactive"}`), DefaultLimits())
	if !errors.As(err, &e) || e.Field != "lane" {
		t.Errorf("a lane in an entry: err = %v, want invalid lane", err)
	}
}

func TestDecodeRequestLane(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body    string
		want    Lane
		wantErr bool
	}{
		{`{"prompt":"p"}`, LaneInteractive, false},
		{`{"prompt":"p","lane":"interactive"}`, LaneInteractive, false},
		{`{"prompt":"p","lane":"bulk"}`, LaneBulk, false},
		{`{"prompt":"p","lane":"Bulk"}`, "", true},
		{`{"prompt":"p","lane":""}`, "", true},
		{`{"prompt":"p","lane":null}`, LaneInteractive, false},
		{`{"prompt":"p","lane":1}`, "", true},
	}
	for _, tt := range tests {
		r, err := DecodeRequest([]byte(tt.body), DefaultLimits())
		var e *Error
		switch {
		case tt.wantErr && (!errors.As(err, &e) || e.Field != "lane"):
			t.Errorf("%s: err = %v, want one naming lane", tt.body, err)
		case !tt.wantErr && (err != nil || r.Lane != tt.want):
			t.Errorf("%s: lane %q, err %v; want %q", tt.body, r.Lane, err, tt.want)
		}
	}
	// The lane is not part of the request's identity.
	a, _ := DecodeRequest([]byte(`{"prompt":"p"}`), DefaultLimits())
	b, _ := DecodeRequest([]byte(`{"prompt":"p","lane":"bulk"}`), DefaultLimits())
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("the same request on two lanes has two fingerprints")
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	t.Parallel()
	for key, ok := range map[string]bool{
		"a":                      true,
		"   ":                    false,
		strings.Repeat("k", 255): true,
		strings.Repeat("k", 256): false,
		"":                       false,
		"tab\there":              false,
		"naïve":                  false,
	} {
		if err := ValidateIdempotencyKey(key); (err == nil) != ok {
			t.Errorf("ValidateIdempotencyKey(%q) = %v, want ok=%v", key, err, ok)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultLimits().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	l := DefaultLimits()
	l.DefaultModel = "not-listed"
	if err := l.Validate(); err == nil {
		t.Error("default model outside the allow-list accepted")
	}
	l = DefaultLimits()
	l.Models = append(l.Models, "us.anthropic.claude-3-5-haiku-20241022-v1:0")
	if err := l.Validate(); err == nil || !strings.Contains(err.Error(), "catalogue") {
		t.Errorf("a model outside the catalogue: %v", err)
	}
	l = DefaultLimits()
	l.MaxPromptBytes = MaxInputBytes
	if err := l.Validate(); err == nil {
		t.Error("byte limits past one item's room accepted")
	}
}

func TestMaxTokensAndBytesAreCheckedPerModelAndInBytes(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	l.Models = []string{haiku45, "us.anthropic.claude-haiku-5-5"}
	l.DefaultModel = haiku45
	four := strings.Repeat("\U0001F600", 50_001) // 50,001 characters, 200,004 bytes
	for _, tc := range []struct {
		body, field, msg string
	}{
		{`{"prompt":"p","max_tokens":64000}`, "", ""},
		{`{"prompt":"p","max_tokens":64001}`, "max_tokens", "from 1 to 64000, the most Claude Haiku 4.5"},
		{`{"prompt":"p","max_tokens":128000,"model":"us.anthropic.claude-haiku-5-5"}`, "", ""},
		{`{"prompt":"p","max_tokens":128001,"model":"us.anthropic.claude-haiku-5-5"}`, "max_tokens", "128000"},
		{`{"prompt":"` + four + `"}`, "prompt", "at most 200000 bytes"},
		{`{"prompt":"p","system":"` + strings.Repeat("\u00e9", 10_000) + `x"}`, "system", "at most 10000 characters"},
		{`{"prompt":"p","system":"` + strings.Repeat("\U0001F600", 8_000) + `"}`, "system", "at most 30000 bytes"},
	} {
		_, err := DecodeRequest([]byte(tc.body), l)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%.60s: %v", tc.body, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%.60s: %v; want field %s saying %q", tc.body, err, tc.field, tc.msg)
		}
	}
}

// haiku45 is Claude Haiku 4.5 through its US profile: a model that takes
// a temperature and a prefill, and no effort.
const haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

func TestEffortIsTheRequestsOrTheDefaultForTheModel(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	l.Models = append(l.Models, haiku45)
	for body, want := range map[string]string{
		`{"prompt":"p"}`:                               "medium",
		`{"prompt":"p","effort":"max"}`:                "max",
		`{"prompt":"p","model":"` + haiku45 + `"}`:     "",
		`{"prompt":"p","effort":"low","max_tokens":5}`: "low",
	} {
		r, err := DecodeRequest([]byte(body), l)
		if err != nil || r.Effort != want {
			t.Errorf("%s: effort %q, %v; want %q", body, r.Effort, err, want)
		}
	}
}

func TestDecodeRequestToContinueAJob(t *testing.T) {
	t.Parallel()
	id := NewID()
	r, err := DecodeRequest([]byte(`{"continue":"`+id+`","max_tokens":300}`), DefaultLimits())
	if err != nil || r.ContinuesJob != id || r.MaxTokens != 300 || r.Prompt != "" || r.Lane != LaneInteractive {
		t.Fatalf("got %+v, %v; want the job to continue, 300 more tokens, nothing else", r, err)
	}
	for _, tt := range []struct{ name, body, field string }{
		{"not a job id", `{"continue":"x"}`, "continue"},
		{"a prompt too", `{"continue":"` + id + `","prompt":"p"}`, "prompt"},
		{"a model too", `{"continue":"` + id + `","model":"` + DefaultModel + `"}`, "model"},
		{"max_tokens zero", `{"continue":"` + id + `","max_tokens":0}`, "max_tokens"},
	} {
		if _, err := DecodeRequest([]byte(tt.body), DefaultLimits()); KindOf(err) != KindInvalid || !errors.As(err, new(*Error)) || err.(*Error).Field != tt.field {
			t.Errorf("%s: %v, want invalid naming %s", tt.name, err, tt.field)
		}
	}
	if _, _, err := (Batch{Lane: LaneBulk}).Entry([]byte(`{"continue":"`+id+`"}`), DefaultLimits()); KindOf(err) != KindInvalid {
		t.Errorf("a batch entry with continue: %v, want it refused", err)
	}
}

func TestContinueRequestGoesOnFromAJobStoppedAtMaxTokens(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	l.Models = append(l.Models, haiku45)
	temp := 0.5
	j := Job{ID: NewID(), Status: StatusSucceeded, StopReason: "max_tokens", Prompt: "p", System: "s", Model: haiku45,
		MaxTokens: 20, Temperature: &temp, Lane: LaneBulk, GeneratedText: "The answer so far", Tokens: Tokens{Output: 20}}
	r, err := j.ContinueRequest(0, "", l)
	if err != nil {
		t.Fatal(err)
	}
	if r.Prompt != "p" || r.System != "s" || r.Model != haiku45 || r.MaxTokens != 20 || *r.Temperature != 0.5 ||
		r.Continue != j.GeneratedText || r.ContinueBy != j.ContinuesBy() || r.ContinuesJob != j.ID || r.Lane != LaneBulk {
		t.Errorf("got %+v", r)
	}
	// The text so far is input the new job's first call pays for, so it
	// is in what the submission reserves.
	if plain := j.Request(); r.WorstCaseTokens() < plain.WorstCaseTokens()+len(j.GeneratedText) {
		t.Errorf("reserves %d, want at least the text's %d bytes more than the prompt's %d", r.WorstCaseTokens(), len(j.GeneratedText), plain.WorstCaseTokens())
	}
	if r.Fingerprint() == j.Request().Fingerprint() {
		t.Error("a continuation has the fingerprint of its job's own request")
	}
	if r, err := j.ContinueRequest(500, LaneInteractive, l); err != nil || r.MaxTokens != 500 || r.Lane != LaneInteractive {
		t.Errorf("500 more on the interactive lane: %+v, %v", r, err)
	}
	if _, err := j.ContinueRequest(64_001, "", l); KindOf(err) != KindInvalid {
		t.Errorf("more than the model writes: %v", err)
	}
	for _, tt := range []struct {
		name string
		edit func(*Job)
		kind Kind
	}{
		{"complete", func(j *Job) { j.StopReason = "end_turn" }, KindConflict},
		{"running", func(j *Job) { j.Status = StatusRunning }, KindConflict},
		{"failed", func(j *Job) { j.Status = StatusFailed }, KindConflict},
		{"a model no longer allowed", func(j *Job) { j.Model = "gone" }, KindInvalid},
	} {
		k := j
		tt.edit(&k)
		_, err := k.ContinueRequest(0, "", l)
		if e := (*Error)(nil); !errors.As(err, &e) || e.Kind != tt.kind || e.Field != "continue" {
			t.Errorf("%s: %v, want %s naming continue", tt.name, err, tt.kind)
		}
	}
}

// Each route's lanes are decided in one place (Route), and
// economy_fallback applies to the economy lane only.
func TestDecodeBatchLaneAndFallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body      string
		lane      Lane
		fallback  bool
		wantField string // "" for no error
	}{
		{`{"requests":[]}`, LaneBulk, false, ""},
		{`{"requests":[],"lane":"economy","economy_fallback":true}`, LaneEconomy, true, ""},
		{`{"requests":[],"lane":"economy","economy_fallback":false}`, LaneEconomy, false, ""},
		{`{"requests":[],"lane":"interactive"}`, "", false, "lane"},
		{`{"requests":[],"economy_fallback":false}`, "", false, "economy_fallback"},
		{`{"requests":[],"lane":"bulk","economy_fallback":true}`, "", false, "economy_fallback"},
		{`{"requests":[],"lanes":"bulk"}`, "", false, "lanes"},
	} {
		b, err := DecodeBatch([]byte(tt.body))
		if tt.wantField != "" {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || e.Field != tt.wantField {
				t.Errorf("%s: error %v, want one naming %s", tt.body, err, tt.wantField)
			}
			continue
		}
		if err != nil || b.Lane != tt.lane || b.EconomyFallback != tt.fallback {
			t.Errorf("%s: %+v, %v; want lane %s, fallback %v", tt.body, b, err, tt.lane, tt.fallback)
		}
		r, _, err := b.Entry([]byte(`{"prompt":"p"}`), DefaultLimits())
		if err != nil || r.Lane != tt.lane || r.EconomyFallback != tt.fallback {
			t.Errorf("%s: entry %+v, %v; want it on the batch's lane and fallback", tt.body, r, err)
		}
	}
	if got := RouteGenerate.Lanes(); len(got) != 2 || got[0] != LaneInteractive || got[1] != LaneBulk {
		t.Errorf("POST /generate's lanes %v, want interactive (the default) and bulk", got)
	}
}

// A route's refusal names exactly its lanes, in order: the message and
// the lanes it checks are one rule.
func TestRoutesRefuseNamingTheirLanes(t *testing.T) {
	t.Parallel()
	for _, r := range []Route{RouteGenerate, RouteBatch} {
		names := make([]string, len(r.lanes))
		for i, l := range r.lanes {
			names[i] = `"` + string(l) + `"`
		}
		want := "lane must be " + strings.Join(names, " or ")
		bad := "nowhere"
		_, err := r.Lane(&bad)
		var e *Error
		if !errors.As(err, &e) || e.Field != "lane" || !strings.HasPrefix(e.Message, want) {
			t.Errorf("refusal %v, want one starting %q", err, want)
		}
	}
}
