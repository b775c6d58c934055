package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/promptq/promptq/internal/catalogue"
)

// ResponseFormat asks for an answer that is JSON conforming to a JSON
// schema (a request's "response_format"): sent to the model as Converse's
// outputConfig.textFormat (Params.TextFormat), and the final answer is
// checked against it (ResponseFormat.Check) before the job succeeds.
type ResponseFormat struct {
	Type string `json:"type"` // ResponseFormatJSONSchema, the only one
	// Name is the schema's name, passed to the model ("" for none).
	Name string `json:"name,omitempty"`
	// Schema is the JSON schema, compact JSON text in the client's key
	// order: the order of the properties is the order a model writes
	// them in, and the batch tool's columns.
	Schema json.RawMessage `json:"schema"`
}

// ResponseFormatJSONSchema is the one response_format type.
const ResponseFormatJSONSchema = "json_schema"

// promptq's own bounds on a schema: Anthropic publishes what a schema may
// use but no size or depth, past which Bedrock answers "The compiled
// grammar is too large". These keep a schema small enough to store with
// the job's input and to compile on every worker.
const (
	// MaxSchemaBytes is the largest schema, in bytes of compact JSON.
	MaxSchemaBytes = 16 << 10
	// MaxSchemaDepth is how deeply schemas may nest: the root is 1, and
	// each subschema (of properties, items, anyOf, $defs...) one more.
	MaxSchemaDepth = 8
)

// schemaName is what a name may be: the rule OpenAI's response_format
// gives (Bedrock publishes none), so a name written for either passes.
var schemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// decodeResponseFormat validates a request's response_format (raw, not
// null) for model m (known false: a model the caller does not know, whose
// support is left to the server). Every error names response_format or
// one of its fields.
func decodeResponseFormat(raw json.RawMessage, m catalogue.Model, known bool) (*ResponseFormat, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, Invalid("response_format", `response_format must be an object: {"type": "json_schema", "schema": {...}}.`)
	}
	if known && !m.StructuredOutput {
		return nil, Invalid("response_format", "%s (%s) does not write JSON to a schema. Remove response_format, or choose a model that does.", m.Name, m.ID)
	}
	for k := range fields {
		if k != "type" && k != "name" && k != "schema" {
			if len(k) > 64 {
				return nil, Invalid("response_format", "response_format has a field that is not known; it takes type, name and schema.")
			}
			return nil, Invalid("response_format."+k, "response_format.%s is not a known field; response_format takes type, name and schema.", k)
		}
	}
	var f ResponseFormat
	if t, ok := fields["type"]; !ok || json.Unmarshal(t, &f.Type) != nil || f.Type != ResponseFormatJSONSchema {
		return nil, Invalid("response_format.type", `response_format.type must be "json_schema".`)
	}
	if n, ok := fields["name"]; ok && string(n) != "null" {
		if json.Unmarshal(n, &f.Name) != nil || !schemaName.MatchString(f.Name) {
			return nil, Invalid("response_format.name", "response_format.name must be 1 to 64 letters, digits, _ or -.")
		}
	}
	s, ok := fields["schema"]
	if !ok || string(s) == "null" {
		return nil, Invalid("response_format.schema", "response_format.schema is required: a JSON schema object.")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, s); err != nil {
		return nil, Invalid("response_format.schema", "response_format.schema is not valid JSON.")
	}
	if n := compact.Len(); n > MaxSchemaBytes {
		return nil, Invalid("response_format.schema", "response_format.schema must be at most %d bytes of JSON; it has %d.", MaxSchemaBytes, n)
	}
	f.Schema = compact.Bytes()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Schema))
	if err != nil {
		return nil, Invalid("response_format.schema", "response_format.schema is not valid JSON.")
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, Invalid("response_format.schema", "response_format.schema must be a JSON schema object.")
	}
	if d := schemaDepth(doc); d > MaxSchemaDepth {
		return nil, Invalid("response_format.schema", "response_format.schema nests %d levels of schemas; at most %d are allowed.", d, MaxSchemaDepth)
	}
	if _, err := compileSchema(doc); err != nil {
		return nil, Invalid("response_format.schema", "response_format.schema is not a JSON schema promptq can use: %s", oneLine(err.Error(), 300))
	}
	return &f, nil
}

// Subschema keywords of JSON Schema (2020-12, and draft-07's spellings),
// by the shape of their value.
var (
	schemaMapKeywords = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
	schemaOneKeywords = []string{"items", "additionalProperties", "additionalItems", "not", "contains",
		"propertyNames", "if", "then", "else", "unevaluatedItems", "unevaluatedProperties"}
	schemaListKeywords = []string{"anyOf", "allOf", "oneOf", "prefixItems", "items"}
)

// schemaDepth is how deeply v's schemas nest (see MaxSchemaDepth).
func schemaDepth(v any) int {
	obj, ok := v.(map[string]any)
	if !ok {
		return 1 // true or false: a schema of no subschemas
	}
	deepest := 0
	for _, k := range schemaMapKeywords {
		if m, ok := obj[k].(map[string]any); ok {
			for _, sub := range m {
				deepest = max(deepest, schemaDepth(sub))
			}
		}
	}
	for _, k := range schemaOneKeywords {
		if sub, ok := obj[k]; ok {
			if _, list := sub.([]any); !list {
				deepest = max(deepest, schemaDepth(sub))
			}
		}
	}
	for _, k := range schemaListKeywords {
		if l, ok := obj[k].([]any); ok {
			for _, sub := range l {
				deepest = max(deepest, schemaDepth(sub))
			}
		}
	}
	return 1 + deepest
}

// compileSchema compiles a decoded schema. Nothing is loaded from outside
// it: a $ref to a file or a URL does not compile (Anthropic's structured
// outputs take only local references), and no client can have the
// service read a file.
func compileSchema(doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	const loc = "urn:promptq:response_format.schema"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// compiled caches schemas compiled by Check, by the hash of their text: a
// worker checks many answers to the same schema. It is bounded, emptied
// when full.
var compiled = struct {
	sync.Mutex
	m map[[32]byte]*jsonschema.Schema
}{m: map[[32]byte]*jsonschema.Schema{}}

const compiledMax = 256

func (f ResponseFormat) schema() (*jsonschema.Schema, error) {
	key := sha256.Sum256(f.Schema)
	compiled.Lock()
	s, ok := compiled.m[key]
	compiled.Unlock()
	if ok {
		return s, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Schema))
	if err != nil {
		return nil, fmt.Errorf("decode the job's schema: %w", err)
	}
	if s, err = compileSchema(doc); err != nil {
		return nil, fmt.Errorf("compile the job's schema: %w", err)
	}
	compiled.Lock()
	if len(compiled.m) >= compiledMax {
		clear(compiled.m)
	}
	compiled.m[key] = s
	compiled.Unlock()
	return s, nil
}

// ErrInvalidOutput is in the chain of Check's error for an answer that is
// not JSON or does not conform to the schema.
var ErrInvalidOutput = errors.New("the answer does not conform to the schema")

// OutputError is an answer Check refused: Message says why, in words for
// the job's owner (the validation error, on one line).
type OutputError struct{ Message string }

func (e *OutputError) Error() string { return e.Message }
func (e *OutputError) Unwrap() error { return ErrInvalidOutput }

// Check checks an answer against f's schema, and returns it as compact
// JSON (GET /jobs/{id}'s generated_json). An answer that is not one JSON
// value, or does not conform, is an *OutputError (ErrInvalidOutput); a
// schema that no longer compiles (none can get past the API) is another
// error.
func (f ResponseFormat) Check(text string) (json.RawMessage, error) {
	s, err := f.schema()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &OutputError{Message: "The answer is not JSON: " + oneLine(err.Error(), 200) + "."}
	}
	if rest := text[dec.InputOffset():]; strings.TrimSpace(rest) != "" {
		return nil, &OutputError{Message: "The answer is not one JSON value: more follows it."}
	}
	if err := s.Validate(v); err != nil {
		return nil, &OutputError{Message: "The answer does not conform to the schema: " + oneLine(err.Error(), 500)}
	}
	var out bytes.Buffer
	if err := json.Compact(&out, []byte(text)); err != nil {
		return nil, &OutputError{Message: "The answer is not JSON."}
	}
	return out.Bytes(), nil
}

// Properties are the schema's top-level property names, in the schema's
// order (nil when it has none): the batch tool's columns.
func (f ResponseFormat) Properties() []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(f.Schema, &top) != nil {
		return nil
	}
	props, ok := top["properties"]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return names
		}
		names = append(names, t.(string))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return names
		}
	}
	return names
}
