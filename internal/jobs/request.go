package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/promptq/promptq/internal/catalogue"
)

// Limits are the rules a generation request must follow. The zero value is
// not useful; start from DefaultLimits.
//
// The largest max_tokens accepted is the chosen model's own maximum output
// (internal/catalogue). Prompt and system prompt are limited in characters
// (what people count) and in UTF-8 bytes (what the store must hold: a
// job's input is one DynamoDB item, at most 400 KB).
type Limits struct {
	MaxPromptChars int      // characters (runes)
	MaxSystemChars int      // characters
	MaxPromptBytes int      // UTF-8 bytes
	MaxSystemBytes int      // UTF-8 bytes
	DefaultMax     int      // max_tokens when the request has none
	Models         []string // the allow-list of model ids, each in the catalogue
	DefaultModel   string   // used when the request names none; must be in Models
}

// DefaultModel is the catalogue's default model (catalogue.DefaultModel).
const DefaultModel = catalogue.DefaultModel

// MaxInputBytes bounds MaxPromptBytes + MaxSystemBytes: a job's prompt and
// system prompt are stored together in one DynamoDB item (400 KB at most,
// attribute names and the job's keys included), so they must leave room.
const MaxInputBytes = 380_000

// DefaultLimits returns the documented defaults (docs/openapi.yaml). The
// byte limits allow 100,000 characters of two-byte text (most European
// scripts) in a prompt; text of three- and four-byte characters (CJK,
// emoji) meets the byte limit first.
func DefaultLimits() Limits {
	return Limits{
		MaxPromptChars: 100_000,
		MaxSystemChars: 10_000,
		MaxPromptBytes: 200_000,
		MaxSystemBytes: 30_000,
		DefaultMax:     1024,
		Models:         slices.Clone(catalogue.DefaultModels),
		DefaultModel:   DefaultModel,
	}
}

// Validate checks the limits themselves, so a misconfigured binary fails at
// start rather than on the first request.
func (l Limits) Validate() error {
	switch {
	case l.MaxPromptChars < 1:
		return errors.New("max prompt chars must be positive")
	case l.MaxSystemChars < 0:
		return errors.New("max system chars must not be negative")
	case l.MaxPromptBytes < 1 || l.MaxSystemBytes < 0:
		return errors.New("max prompt bytes must be positive and max system bytes not negative")
	case l.MaxPromptBytes+l.MaxSystemBytes > MaxInputBytes:
		return fmt.Errorf("max prompt bytes %d and max system bytes %d must add up to at most %d (one DynamoDB item holds a job's input)",
			l.MaxPromptBytes, l.MaxSystemBytes, MaxInputBytes)
	case l.DefaultMax < 1:
		return fmt.Errorf("default max tokens %d must be positive", l.DefaultMax)
	case len(l.Models) == 0:
		return errors.New("the model allow-list is empty")
	case !slices.Contains(l.Models, l.DefaultModel):
		return fmt.Errorf("default model %q is not in the allow-list", l.DefaultModel)
	}
	for _, id := range l.Models {
		m, ok := catalogue.Lookup(id)
		switch {
		case !ok:
			return fmt.Errorf("model %q is not in the model catalogue (internal/catalogue)", id)
		case l.DefaultMax > m.MaxOutputTokens:
			return fmt.Errorf("default max tokens %d is more than %s writes (%d)", l.DefaultMax, m.Name, m.MaxOutputTokens)
		}
	}
	return nil
}

// Request is a validated generation request with defaults applied.
type Request struct {
	Prompt      string   `json:"prompt"`
	System      string   `json:"system,omitempty"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature *float64 `json:"temperature,omitempty"`
	Model       string   `json:"model"`
	// Effort is the effort level asked of a model that takes one
	// (catalogue.Model.Thinking.Efforts): the request's, or promptq's
	// default for the model (catalogue.DefaultEffort); "" for a model that
	// takes none.
	Effort string `json:"effort,omitempty"`
	Lane   Lane   `json:"lane,omitempty"`
	// ResponseFormat asks for JSON conforming to a schema (nil: text),
	// part of the request's identity.
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	// EconomyFallback asks, for an economy job, that a record Bedrock's
	// batch inference fails be run on the bulk lane instead of failing
	// the job. Set from the batch's "economy_fallback" by Batch.Entry
	// (DecodeBatch refuses it off the economy lane); no part of the
	// request's identity.
	EconomyFallback bool `json:"-"`
	// Continue is the answer written so far by earlier calls, which this
	// call must continue, the way its model allows (catalogue.Model's
	// Continuation: a prefilled assistant turn, or the text as an earlier
	// assistant turn and a user turn asking to go on). Set by the worker
	// only, never by a client, and no part of the request's identity.
	Continue string `json:"-"`
	// ContinueBy is how Continue is given to the model (Job.NextRequest
	// sets it from the model's catalogue entry): a prefilled assistant
	// turn, or the answer as an earlier turn then ContinueTurn as the
	// user's. A model adapter builds the conversation by it; a model that
	// takes no prefill refuses one, as Bedrock does.
	ContinueBy catalogue.Continuation `json:"-"`
	// ContinuesJob is the job whose answer this request goes on with
	// (POST /generate's "continue": Job.ContinueRequest), part of the
	// request's identity; "" for a request of its own. A request decoded
	// with it carries nothing else yet but MaxTokens (0: the job's) and
	// Lane: the rest comes from that job.
	ContinuesJob string `json:"continue,omitempty"`
}

// rawRequest is the wire shape. Pointers tell "absent" from "zero".
type rawRequest struct {
	Prompt      *string  `json:"prompt"`
	System      *string  `json:"system"`
	MaxTokens   *int     `json:"max_tokens"`
	Temperature *float64 `json:"temperature"`
	Model       *string  `json:"model"`
	Effort      *string  `json:"effort"`
	Lane        *string  `json:"lane"`
	Continue    *string  `json:"continue"`
	// ResponseFormat is kept raw (null: absent) so that each of its
	// faults is named by its own field.
	ResponseFormat json.RawMessage `json:"response_format"`
}

// DecodeRequest parses and validates one JSON request body of POST
// /generate: its lane is one RouteGenerate allows. Every error
// is a *Error of KindInvalid naming the field at fault.
func DecodeRequest(body []byte, l Limits) (Request, error) {
	var raw rawRequest
	if err := decodeStrict(body, &raw); err != nil {
		return Request{}, err
	}
	var r Request
	var err error
	if raw.Continue != nil {
		r, err = raw.continuation()
	} else {
		r, err = raw.validate(l)
	}
	if err != nil {
		return r, err
	}
	r.Lane, err = RouteGenerate.Lane(raw.Lane)
	return r, err
}

// continuation is a request to continue a job's answer ("continue": its
// id), which may say how many more tokens (max_tokens) and on which lane;
// the prompt, model and settings are the job's (Job.ContinueRequest).
func (raw rawRequest) continuation() (Request, error) {
	if !ValidID(*raw.Continue) {
		return Request{}, Invalid("continue", "continue must be the job_id of one of your jobs.")
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"prompt", raw.Prompt != nil}, {"system", raw.System != nil}, {"model", raw.Model != nil},
		{"temperature", raw.Temperature != nil}, {"effort", raw.Effort != nil},
		{"response_format", raw.hasResponseFormat()}} {
		if f.set {
			return Request{}, Invalid(f.name, "%s comes from the job you continue: send only continue, and max_tokens or lane if you like.", f.name)
		}
	}
	r := Request{ContinuesJob: *raw.Continue}
	if raw.MaxTokens != nil {
		if *raw.MaxTokens < 1 {
			return r, Invalid("max_tokens", "max_tokens must be a positive integer.")
		}
		r.MaxTokens = *raw.MaxTokens
	}
	return r, nil
}

// rawEntry is one entry of a batch: the request fields plus its own
// idempotency key (the header's equivalent).
type rawEntry struct {
	rawRequest
	IdempotencyKey *string `json:"idempotency_key"`
}

// Entry parses and validates one entry of the batch, given as raw JSON:
// a request on the batch's lane, with its economy_fallback (the only way a
// Request comes to carry one). It returns the request and the entry's
// idempotency key ("" when absent).
func (b Batch) Entry(msg json.RawMessage, l Limits) (Request, string, error) {
	var raw rawEntry
	if err := decodeStrict(msg, &raw); err != nil {
		return Request{}, "", err
	}
	if raw.Lane != nil {
		return Request{}, "", Invalid("lane", "lane applies to the whole batch: put it next to requests, not in an entry.")
	}
	if raw.Continue != nil {
		return Request{}, "", Invalid("continue", "continue is for POST /generate: a batch entry cannot continue a job.")
	}
	var key string
	if raw.IdempotencyKey != nil {
		key = *raw.IdempotencyKey
		if err := ValidateIdempotencyKey(key); err != nil {
			return Request{}, "", Invalid("idempotency_key", "idempotency_key must be 1 to 255 printable ASCII characters.")
		}
	}
	r, err := raw.validate(l)
	r.Lane, r.EconomyFallback = b.Lane, b.EconomyFallback
	return r, key, err
}

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 255

// ValidateIdempotencyKey checks a key's length (1..255) and that it is
// printable ASCII, so it is safe inside a DynamoDB key and in logs.
func ValidateIdempotencyKey(key string) error {
	if strings.TrimSpace(key) == "" || len(key) > MaxIdempotencyKeyLen {
		return Invalid("Idempotency-Key", "Idempotency-Key must be 1 to %d characters.", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return Invalid("Idempotency-Key", "Idempotency-Key must be printable ASCII characters.")
		}
	}
	return nil
}

// texts checks the prompt and the system prompt against l (characters,
// what people count, and bytes, what the store must hold) and sets them
// in r.
func (raw rawRequest) texts(l Limits, r *Request) error {
	switch {
	case raw.Prompt == nil:
		return Invalid("prompt", "prompt is required.")
	case strings.TrimSpace(*raw.Prompt) == "":
		return Invalid("prompt", "prompt must not be blank.")
	case utf8.RuneCountInString(*raw.Prompt) > l.MaxPromptChars:
		return Invalid("prompt", "prompt must be at most %d characters.", l.MaxPromptChars)
	}
	if n := len(*raw.Prompt); n > l.MaxPromptBytes {
		return Invalid("prompt", "prompt must be at most %d bytes of UTF-8; it has %d.", l.MaxPromptBytes, n)
	}
	r.Prompt = *raw.Prompt

	if raw.System != nil {
		if utf8.RuneCountInString(*raw.System) > l.MaxSystemChars {
			return Invalid("system", "system must be at most %d characters.", l.MaxSystemChars)
		}
		if n := len(*raw.System); n > l.MaxSystemBytes {
			return Invalid("system", "system must be at most %d bytes of UTF-8; it has %d.", l.MaxSystemBytes, n)
		}
		r.System = *raw.System
	}
	return nil
}

func (raw rawRequest) validate(l Limits) (Request, error) {
	var r Request
	if err := raw.texts(l, &r); err != nil {
		return r, err
	}

	// The model first: temperature, effort and max_tokens are checked
	// against what it takes.
	r.Model = l.DefaultModel
	if raw.Model != nil {
		if !slices.Contains(l.Models, *raw.Model) {
			return r, Invalid("model", "model must be one of: %s.", strings.Join(l.Models, ", "))
		}
		r.Model = *raw.Model
	}
	// Validate makes sure every allowed model is in the catalogue; a
	// client checking a request before sending it (internal/batch) may not
	// know the server's models, and leaves their rules to the server.
	m, known := catalogue.Lookup(r.Model)

	if raw.Temperature != nil {
		if known && !m.Temperature {
			// The model would refuse the call (a failed job, and a bill
			// for nothing): refused here instead, never dropped silently.
			return r, Invalid("temperature", "%s (%s) takes no temperature: it chooses its own sampling. Remove temperature, or choose a model that takes one.",
				m.Name, r.Model)
		}
		if t := *raw.Temperature; t < 0 || t > 1 {
			return r, Invalid("temperature", "temperature must be a number from 0 to 1.")
		}
		t := *raw.Temperature
		r.Temperature = &t
	}

	if raw.Effort != nil {
		e := *raw.Effort
		switch {
		case known && len(m.Thinking.Efforts) == 0:
			return r, Invalid("effort", "%s (%s) takes no effort level. Remove effort, or choose a model that takes one.", m.Name, r.Model)
		case known && !m.TakesEffort(e):
			return r, Invalid("effort", "effort must be one of: %s.", strings.Join(m.Thinking.Efforts, ", "))
		case !known && strings.TrimSpace(e) == "":
			return r, Invalid("effort", "effort must not be blank.")
		}
		r.Effort = e
	}
	if known {
		r.Effort = m.EffortOr(r.Effort)
	}

	r.MaxTokens = l.DefaultMax
	if raw.MaxTokens != nil {
		switch n := *raw.MaxTokens; {
		case known && (n < 1 || n > m.MaxOutputTokens):
			return r, Invalid("max_tokens", "max_tokens must be an integer from 1 to %d, the most %s (%s) writes.",
				m.MaxOutputTokens, m.Name, r.Model)
		case n < 1:
			return r, Invalid("max_tokens", "max_tokens must be a positive integer.")
		}
		r.MaxTokens = *raw.MaxTokens
	}
	if raw.hasResponseFormat() {
		var err error
		if r.ResponseFormat, err = decodeResponseFormat(raw.ResponseFormat, m, known); err != nil {
			return r, err
		}
	}
	return r, nil
}

// hasResponseFormat reports whether the request has a response_format
// (null is none).
func (raw rawRequest) hasResponseFormat() bool {
	return len(raw.ResponseFormat) > 0 && string(raw.ResponseFormat) != "null"
}

// Fingerprint is a stable hash of the validated request, used to tell a
// retried request (same key, same body) from a reused key (a conflict).
//
// The lane is left out: it says how soon the answer is wanted, not what is
// asked, so a replay on another lane is the same request and gets the
// original job (on its first lane), and requests stored before lanes
// existed still match their replays.
func (r Request) Fingerprint() string {
	r.Lane = ""
	b, _ := json.Marshal(r) // a struct of strings and numbers cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// decodeStrict decodes exactly one JSON object into v, rejecting unknown
// fields, wrong types and trailing data, with messages that name the field.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Invalid("body", "The request body must be a JSON object; it was empty.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Invalid("body", "The request body must hold a single JSON object and nothing after it.")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return Invalid("body", "The request body must be a JSON object, not %s.", typeErr.Value)
		}
		// The path names Go's embedded struct too (rawRequest.prompt);
		// clients know only the JSON field.
		field := typeErr.Field
		if i := strings.LastIndex(field, "."); i >= 0 && strings.HasPrefix(field, "raw") {
			field = field[i+1:]
		}
		return Invalid(field, "%s must be %s, not %s.", field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Invalid("body", "The request body is not valid JSON.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if f, uerr := strconv.Unquote(field); uerr == nil {
			field = f
		}
		if field == "" || len(field) > 64 || !utf8.ValidString(field) {
			// Echo only names a person could have meant.
			return Invalid("body", "The request body has a field that is not known.")
		}
		return Invalid(field, "%s is not a known field.", field)
	default:
		return Invalid("body", "The request body is not valid JSON.")
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return "of another type"
	}
}

// Prefill is text as a model is given it to continue, in a prefilled
// assistant turn: without its trailing whitespace, which Bedrock refuses
// at the end of a final assistant turn ("" when nothing else is left, as
// Bedrock refuses a whitespace-only block too). The caller keeps the
// trimmed whitespace, and drops it from the continuation when that starts
// with it.
func Prefill(text string) string {
	return strings.TrimRightFunc(text, unicode.IsSpace)
}

// TokenBudget is a likely token use of the request, for pacing the model's
// quota (internal/worker): its max_tokens plus an estimate of its input
// tokens (about four characters a token for English text; the model's own
// count is known only after the job runs). A continuing call's input
// includes the answer it continues. It is no bound: budgets reserve
// WorstCaseTokens.
func (r Request) TokenBudget() int {
	chars := utf8.RuneCountInString(r.Prompt) + utf8.RuneCountInString(r.System) + utf8.RuneCountInString(r.Continue)
	return r.MaxTokens + (chars+3)/4
}
