package httpapi_test

import (
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/promptq/promptq/internal/jobs"
)

// openAPI is the part of docs/openapi.yaml these tests compare with code.
type openAPI struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
			Required   []string       `yaml:"required"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func loadOpenAPI(t *testing.T) openAPI {
	t.Helper()
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return doc
}

// TestOpenAPIRoutesAreServed: every documented operation is routed (answers
// something other than 404/405 for a well-formed call), and no routed path
// is missing from the document.
func TestOpenAPIRoutesAreServed(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	f := setup(t)
	id := f.submit(t, "alice", `{"prompt":"p"}`)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			method = strings.ToUpper(method)
			documented = append(documented, method+" "+path)
			url := strings.ReplaceAll(path, "{id}", id)
			body := ""
			if method == "POST" && strings.HasPrefix(path, "/generate") {
				body = `{"prompt":"p"}`
				if strings.HasSuffix(path, "batch") {
					body = `{"requests":[{"prompt":"p"}]}`
				}
			}
			res := f.do(t, method, url, "alice", body)
			if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed {
				t.Errorf("%s %s is documented but answers %d", method, path, res.StatusCode)
			}
		}
	}
	sort.Strings(documented)
	want := []string{"GET /jobs", "GET /jobs/{id}", "GET /usage", "POST /generate", "POST /generate/batch", "POST /jobs/{id}/cancel"}
	if !slices.Equal(documented, want) {
		t.Errorf("documented operations %v, routed %v", documented, want)
	}
}

// TestOpenAPIRequestFieldsMatchCode compares the GenerateRequest schema with
// the JSON fields of jobs.Request, and the Job schema with what GET returns.
func TestOpenAPIFieldsMatchCode(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	var codeFields []string
	rt := reflect.TypeFor[jobs.Request]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "-" { // set by the worker, never by a client
			codeFields = append(codeFields, name)
		}
	}
	var docFields []string
	for k := range doc.Components.Schemas["GenerateRequest"].Properties {
		docFields = append(docFields, k)
	}
	sort.Strings(codeFields)
	sort.Strings(docFields)
	if !slices.Equal(codeFields, docFields) {
		t.Errorf("GenerateRequest documents %v, code takes %v", docFields, codeFields)
	}

	f := setup(t)
	schema := doc.Components.Schemas["Job"]
	// A job of a model that takes a temperature, and one of a model that
	// takes an effort: between them, every field a job can have.
	for _, body := range []string{`{"prompt":"p","system":"s","temperature":0.5,"model":"` + haiku45 + `"}`, `{"prompt":"p","effort":"max"}`} {
		id := f.submit(t, "alice", body)
		var job map[string]any
		f.do(t, "GET", "/jobs/"+id, "alice", "").json(t, &job)
		for k := range job {
			if _, ok := schema.Properties[k]; !ok {
				t.Errorf("GET /jobs/{id} returns %q, which the Job schema lacks", k)
			}
		}
		for _, k := range schema.Required {
			if _, ok := job[k]; !ok {
				t.Errorf("the Job schema requires %q, which GET /jobs/{id} lacks", k)
			}
		}
	}

	var usage map[string]any
	f.do(t, "GET", "/usage", "alice", "").json(t, &usage)
	us := doc.Components.Schemas["Usage"]
	for k := range usage {
		if _, ok := us.Properties[k]; !ok {
			t.Errorf("GET /usage returns %q, which the Usage schema lacks", k)
		}
	}
	for _, k := range us.Required {
		if _, ok := usage[k]; !ok {
			t.Errorf("the Usage schema requires %q, which GET /usage lacks", k)
		}
	}
}
