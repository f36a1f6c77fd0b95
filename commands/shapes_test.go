package commands_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
)

// The shapes follow the vocabulary's rules: USD rounded to 4 decimals,
// times in UTC to the second, null (never 0 or "") for what is unknown.
func TestShapesFollowTheVocabulary(t *testing.T) {
	s := contract.LoadSchemas(t)
	id := int64(1940004)
	end := time.Date(2026, 11, 28, 21, 0, 0, 987654321, time.FixedZone("CET", 3600))
	o := commands.Order{CloreOrderID: &id, GPUModel: "RTX 4090", GPUCount: 2, State: commands.OrderRunning,
		USDPerHour: 0.24611595112499998, CreatedAt: end.Add(-time.Hour), ExpiresAt: &end, RequestedBy: "slack:U1"}
	b, _ := json.Marshal(commands.NewOrderInfo(o))
	want := `{"id":1940004,"gpu":"RTX 4090","count":2,"state":"running","usd_per_hour":0.2461,"spot":false,` +
		`"started_at":"2026-11-28T19:00:00Z","ends_at":"2026-11-28T20:00:00Z","owner":"slack:U1"}`
	if string(b) != want {
		t.Errorf("order = %s\nwant    %s", b, want)
	}
	s.Validate(t, "order.json", b)

	pending := commands.Order{State: commands.OrderCreating, RequestedBy: "(not clorebot)"}
	b, _ = json.Marshal(commands.NewOrderInfo(pending))
	want = `{"id":null,"gpu":null,"count":null,"state":"creating","usd_per_hour":null,"spot":false,"started_at":null,"ends_at":null,"owner":null}`
	if string(b) != want {
		t.Errorf("unknown order = %s\nwant            %s", b, want)
	}
	s.Validate(t, "order.json", b)

	b, _ = json.Marshal(commands.NewMarketModels([]commands.ModelSummary{{Model: "RTX 4090", Available: 1, Total: 3, OnDemand: 0.31251,
		ReliabilityFloorP: 0.9}}))
	want = `[{"model":"RTX 4090","available":1,"total":3,"cheapest_on_demand":0.3125,"cheapest_spot":null,"cheapest_reliable":null,` +
		`"cheapest_reliable_server_id":null,"reliability_floor":0.9}]`
	if string(b) != want {
		t.Errorf("market = %s\nwant     %s", b, want)
	}

	job := commands.Job{ID: "j1", Kind: commands.JobRent, State: commands.JobFailed, Error: "No offer under $0.30."}
	b, _ = json.Marshal(commands.NewJobInfo(job, nil))
	if want := `{"job_id":"j1","kind":"rent","state":"failed","message":"No offer under $0.30.","order":null,"error":"No offer under $0.30."}`; string(b) != want {
		t.Errorf("job = %s\nwant  %s", b, want)
	}
	s.Validate(t, "job.json", b)
	job = commands.Job{ID: "j2", Kind: commands.JobRent, State: commands.JobSucceeded}
	b, _ = json.Marshal(commands.NewJobInfo(job, &o))
	s.Validate(t, "job.json", b)
}
