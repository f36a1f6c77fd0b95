package contract_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/internal/contract"
)

// Every schema of docs/schema compiles as JSON Schema 2020-12, and
// docs/openapi.yaml is a valid OpenAPI 3.1 document whose references to
// them resolve.
func TestSchemasCompileAndTheOpenAPIDocumentIsValid(t *testing.T) {
	s := contract.LoadSchemas(t)
	names, err := s.Names()
	if err != nil || len(names) < 20 {
		t.Fatalf("docs/schema: %v %v", names, err)
	}
	for _, n := range names {
		if _, err := s.Compile(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	api := contract.LoadOpenAPI(t)
	for _, path := range []string{"/webhook/create-order", "/webhook/cancel-order", "/webhook/price-alert", "/webhook/status",
		"/webhook/command", "/webhook/jobs/{id}", "/webhook/jobs/{id}/confirm", "/webhook/marketplace"} {
		if api.Doc.Paths.Find(path) == nil {
			t.Errorf("docs/openapi.yaml lacks %s", path)
		}
	}
}

// The schemas hold the rules of the vocabulary: a sample that breaks one
// is refused (the real answers are validated by the packages that make
// them).
func TestSchemasRefuseWhatTheVocabularyForbids(t *testing.T) {
	s := contract.LoadSchemas(t)
	order := `{"id":1,"gpu":"RTX 4090","count":1,"state":"running","usd_per_hour":%s,"spot":false,"started_at":%s,"ends_at":null,"owner":"slack:U1"}`
	for _, tt := range []struct {
		name, doc string
		valid     bool
	}{
		{"valid", sprintf(order, "0.2461", `"2026-11-28T19:00:00Z"`), true},
		{"unrounded money", sprintf(order, "0.24611595112499998", `"2026-11-28T19:00:00Z"`), false},
		{"zero for unknown money", sprintf(order, "0", `"2026-11-28T19:00:00Z"`), false},
		{"fractional seconds", sprintf(order, "0.2461", `"2026-11-28T19:00:00.5Z"`), false},
		{"not UTC", sprintf(order, "0.2461", `"2026-11-28T20:00:00+01:00"`), false},
		{"empty string for absent", sprintf(order, "0.2461", `""`), false},
	} {
		err := s.Check("order.json", []byte(tt.doc))
		if (err == nil) != tt.valid {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if err := s.Check("error.json", []byte(`{"error":"max_price: want a number","field":"max_price"}`)); err != nil {
		t.Error(err)
	}
	if err := s.Check("event.json", []byte(`{"type":"order.running","timestamp":"2026-11-28T19:00:00Z","data":{"order_id":1}}`)); err == nil {
		t.Error("an order event without its order validates")
	}
}

func sprintf(format string, args ...string) string {
	for _, a := range args {
		format = strings.Replace(format, "%s", a, 1)
	}
	return format
}

// The OpenAPI check bites: an answer off the contract, or with a status the
// route does not list, is reported; one on it is not.
func TestOpenAPIResponseCheckBites(t *testing.T) {
	api := contract.LoadOpenAPI(t)
	req := httptest.NewRequest("GET", "/webhook/marketplace", nil)
	h := http.Header{"Content-Type": []string{"application/json"}}
	good := `{"unit":"USD per GPU per hour","models":[{"model":"RTX 4090","available":3,"total":5,"cheapest_on_demand":0.3125,` +
		`"cheapest_spot":null,"cheapest_reliable":null,"cheapest_reliable_server_id":null,"reliability_floor":0.9}]}`
	if err := api.CheckResponse(req, 200, h, []byte(good)); err != nil {
		t.Errorf("a good answer: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(good, `"cheapest_spot":null`, `"cheapest_spot":0`, 1),
		strings.Replace(good, `0.3125`, `0.31251234`, 1),
		`{"unit":"USD per GPU per hour"}`,
	} {
		if err := api.CheckResponse(req, 200, h, []byte(bad)); err == nil {
			t.Errorf("a bad answer passes: %s", bad)
		}
	}
	if err := api.CheckResponse(req, 418, h, []byte(`{"error":"teapot"}`)); err == nil {
		t.Error("an undocumented status passes")
	}
	post := httptest.NewRequest("POST", "/webhook/create-order", nil)
	post.Header.Set("Content-Type", "application/json")
	if err := api.CheckRequest(post, []byte(`{"gpu_type":"4090","hours":2}`)); err != nil {
		t.Errorf("a good request: %v", err)
	}
	if err := api.CheckRequest(post, []byte(`{"gpu":"4090"}`)); err == nil {
		t.Error("a request with an unknown field passes")
	}
}
