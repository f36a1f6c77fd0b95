package contract_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clorebot/clorebot/internal/contract"
)

// BenchmarkCheckResponse is the cost of one answer's check against
// docs/openapi.yaml (harness.do in bot/webhook pays it per request).
func BenchmarkCheckResponse(b *testing.B) {
	api := contract.LoadOpenAPI(b)
	req := httptest.NewRequest("GET", "/webhook/marketplace", nil)
	h := http.Header{"Content-Type": []string{"application/json"}}
	good := []byte(`{"unit":"USD per GPU per hour","models":[{"model":"RTX 4090","available":3,"total":5,"cheapest_on_demand":0.3125,"cheapest_spot":null,"cheapest_reliable":null,"cheapest_reliable_server_id":null,"reliability_floor":0.9}]}`)
	for b.Loop() {
		if err := api.CheckResponse(req, 200, h, good); err != nil {
			b.Fatal(err)
		}
	}
}
