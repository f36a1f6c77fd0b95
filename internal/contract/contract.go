package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// startDir is the working directory the test binary started in: the
// package's directory under go test, whatever a test's t.Chdir does later.
var startDir, startDirErr = os.Getwd()

// Root is the module root: the nearest directory above the package's
// directory (where go test starts the test binary) that holds go.mod.
func Root() (string, error) {
	if startDirErr != nil {
		return "", startDirErr
	}
	dir := startDir
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("contract: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SchemaDir is docs/schema of the module.
func SchemaDir() (string, error) {
	root, err := Root()
	return filepath.Join(root, "docs", "schema"), err
}

// Schemas validates JSON documents against the schemas of docs/schema, by
// file name ("order.json"). Formats (date-time, uri) are asserted.
type Schemas struct {
	dir string
	mu  sync.Mutex
	c   *jsonschema.Compiler
	got map[string]*jsonschema.Schema
}

var (
	schemasOnce sync.Once
	schemas     *Schemas
	schemasErr  error
)

// LoadSchemas returns the schemas of docs/schema (compiled once per test
// binary, as they are used).
func LoadSchemas(t testing.TB) *Schemas {
	t.Helper()
	schemasOnce.Do(func() {
		dir, err := SchemaDir()
		if err != nil {
			schemasErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		schemas = &Schemas{dir: dir, c: c, got: map[string]*jsonschema.Schema{}}
	})
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	return schemas
}

// Names lists the schema files of docs/schema.
func (s *Schemas) Names() ([]string, error) {
	m, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m, err
}

// Compile compiles the schema of file name.
func (s *Schemas) Compile(name string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.got[name]; ok {
		return sch, nil
	}
	sch, err := s.c.Compile(filepath.Join(s.dir, name))
	if err != nil {
		return nil, err
	}
	s.got[name] = sch
	return sch, nil
}

// Check reports how doc (JSON text) breaks schema name, nil when it holds.
func (s *Schemas) Check(name string, doc []byte) error {
	sch, err := s.Compile(name)
	if err != nil {
		return fmt.Errorf("schema %s: %w", name, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("against %s: %w", name, err)
	}
	return nil
}

// Validate fails t unless doc holds schema name.
func (s *Schemas) Validate(t testing.TB, name string, doc []byte) {
	t.Helper()
	if err := s.Check(name, doc); err != nil {
		t.Errorf("%v\ndocument: %s", err, doc)
	}
}

// ValidateLines validates every non-empty line of out (JSON lines) against
// schema name, and returns how many there were.
func (s *Schemas) ValidateLines(t testing.TB, name, out string) int {
	t.Helper()
	n := 0
	for l := range strings.SplitSeq(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n++
		s.Validate(t, name, []byte(l))
	}
	return n
}

// API is docs/openapi.yaml, loaded and validated, with a router over its
// paths.
type API struct {
	Doc    *openapi3.T
	router routers.Router
}

var (
	apiOnce sync.Once
	api     *API
	apiErr  error
)

// LoadOpenAPI loads docs/openapi.yaml (once per test binary) and fails t
// unless it is a valid OpenAPI 3.1 document whose references all resolve.
func LoadOpenAPI(t testing.TB) *API {
	t.Helper()
	apiOnce.Do(func() { api, apiErr = loadOpenAPI() })
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return api
}

func loadOpenAPI() (*API, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(filepath.Join(root, "docs", "openapi.yaml"))
	if err != nil {
		return nil, fmt.Errorf("contract: load docs/openapi.yaml: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("contract: docs/openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("contract: docs/openapi.yaml is not valid: %w", err)
	}
	doc.Servers = nil // match requests to any host
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: route docs/openapi.yaml: %w", err)
	}
	return &API{Doc: doc, router: r}, nil
}

func options() *openapi3filter.Options {
	return &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true,
		MultiError: true}
}

// Route finds the operation of req; ok is false for a path the document
// does not describe (such as /healthz).
func (a *API) Route(req *http.Request) (*routers.Route, map[string]string, bool) {
	route, params, err := a.router.FindRoute(req)
	return route, params, err == nil
}

// CheckRequest reports how req with body breaks the document.
func (a *API) CheckRequest(req *http.Request, body []byte) error {
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	r := req.Clone(context.Background())
	r.Body = http.NoBody
	if body != nil {
		r.Body = readCloser{bytes.NewReader(body)}
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route, Options: options()})
}

// CheckResponse reports how the answer (status, header, body) to req breaks
// the document. The status must be one the operation lists.
func (a *API) CheckResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if route.Operation.Responses.Status(status) == nil {
		return fmt.Errorf("%s %s: status %d is not documented", req.Method, route.Path, status)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options()},
		Status:                 status, Header: header, Options: options(),
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
