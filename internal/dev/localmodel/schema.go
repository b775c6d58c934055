package localmodel

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// jsonAnswer is the text of a JSON value conforming to schema (a decoded
// JSON schema), chosen by rng: the local model's answer to a request with
// a response format. It knows type (the first of a list that is not
// null), properties (every one, in the schema's order: names gives each
// object's order, by its JSON pointer), required, enum, const, items,
// anyOf, oneOf, allOf's first part and local $refs; other keywords (string
// lengths, formats, numeric bounds, which Anthropic's structured outputs
// do not take either) are not honoured. Members are separated by ", " and
// keys from values by ": ", so the answer streams in words as any other.
func jsonAnswer(schema []byte, rng *rand.Rand) string {
	var root any
	if json.Unmarshal(schema, &root) != nil {
		return "{}"
	}
	g := generator{root: root, rng: rng, order: propertyOrder(schema)}
	var b strings.Builder
	g.value(&b, root, "", 0)
	return b.String()
}

type generator struct {
	root  any
	rng   *rand.Rand
	order map[string][]string // each properties object's keys in order, by its pointer
}

// value writes a value for schema s, found at pointer ptr of the root.
func (g generator) value(b *strings.Builder, s any, ptr string, depth int) {
	obj, _ := s.(map[string]any)
	if ref, ok := obj["$ref"].(string); ok && strings.HasPrefix(ref, "#/") && depth < 32 {
		if target, ok := g.resolve(ref); ok {
			g.value(b, target, strings.TrimPrefix(ref, "#"), depth+1)
			return
		}
	}
	if c, ok := obj["const"]; ok {
		writeJSON(b, c)
		return
	}
	if e, ok := obj["enum"].([]any); ok && len(e) > 0 {
		writeJSON(b, e[g.rng.IntN(len(e))])
		return
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if l, ok := obj[k].([]any); ok && len(l) > 0 {
			i := 0
			if k != "allOf" {
				i = g.rng.IntN(len(l))
			}
			g.value(b, l[i], ptr+"/"+k+"/"+strconv.Itoa(i), depth+1)
			return
		}
	}
	props, _ := obj["properties"].(map[string]any)
	switch typeOf(obj) {
	case "object":
		b.WriteString("{")
		for i, k := range g.keys(ptr+"/properties", props) {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSON(b, k)
			b.WriteString(": ")
			g.value(b, props[k], ptr+"/properties/"+escapePointer(k), depth+1)
		}
		b.WriteString("}")
	case "array":
		n := 1 + g.rng.IntN(3)
		if m, ok := obj["minItems"].(float64); ok && int(m) > n {
			n = int(m)
		}
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			g.value(b, obj["items"], ptr+"/items", depth+1)
		}
		b.WriteString("]")
	case "string":
		writeJSON(b, vocabulary[g.rng.IntN(len(vocabulary))])
	case "integer":
		b.WriteString(strconv.Itoa(g.rng.IntN(100)))
	case "number":
		b.WriteString(strconv.Itoa(g.rng.IntN(100)) + ".5")
	case "boolean":
		b.WriteString(strconv.FormatBool(g.rng.IntN(2) == 0))
	case "null":
		b.WriteString("null")
	}
}

// typeOf is the type to write for schema obj: its type (the first of a
// list that is not null), else object when it has properties, else string.
func typeOf(obj map[string]any) string {
	switch t := obj["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	if _, ok := obj["properties"]; ok {
		return "object"
	}
	return "string"
}

// keys are the properties' names in the schema's order (at ptr), or sorted
// when it is not known.
func (g generator) keys(ptr string, props map[string]any) []string {
	if k, ok := g.order[ptr]; ok && len(k) == len(props) {
		return k
	}
	k := make([]string, 0, len(props))
	for name := range props {
		k = append(k, name)
	}
	slices.Sort(k)
	return k
}

// resolve finds a local reference ("#/$defs/x") in the root schema.
func (g generator) resolve(ref string) (any, bool) {
	cur := g.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func writeJSON(b *strings.Builder, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		out = []byte("null")
	}
	b.Write(out)
}

// propertyOrder reads the key order of every "properties" object in
// schema, by JSON pointer ("/properties", "/properties/a/properties"...),
// which decoding into a map loses.
func propertyOrder(schema []byte) map[string][]string {
	order := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(schema)))
	var walk func(ptr string) bool
	walk = func(ptr string) bool {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case json.Delim('{'):
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return false
				}
				k := kt.(string)
				if strings.HasSuffix(ptr, "/properties") {
					order[ptr] = append(order[ptr], k)
				}
				if !walk(ptr + "/" + escapePointer(k)) {
					return false
				}
			}
			_, err = dec.Token()
			return err == nil
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if !walk(ptr + "/" + strconv.Itoa(i)) {
					return false
				}
			}
			_, err = dec.Token()
			return err == nil
		}
		return true
	}
	walk("")
	return order
}
