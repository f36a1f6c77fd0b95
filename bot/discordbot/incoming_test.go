package discordbot

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/golden"
)

// The payloads a Discord webhook receives, per event: golden files.
func TestIncomingPayloadGolden(t *testing.T) {
	t.Parallel()
	order := int64(1940007)
	for _, tt := range []struct{ typ, data string }{
		{"order.running", `{"order":{"id":1940007,"gpu":"RTX 4090","count":2,"usd_per_hour":0.9,"owner":"discord:42"},"job_id":"j1"}`},
		{"order.expiring", `{"order":{"id":1940007,"ends_at":"2026-11-28T21:00:00Z"}}`},
		{"order.failed", `{"order":{"id":1940007},"reason":"provision_timeout"}`},
		{"wallet.low_balance", `{"message":"The USD-Blockchain wallet holds $4.20, under the $10 alert level."}`},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			b, skip, err := IncomingPayload(commands.Event{Type: tt.typ, OrderID: &order, Data: json.RawMessage(tt.data)})
			if err != nil || skip {
				t.Fatalf("skip %v err %v", skip, err)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if c, _ := v["content"].(string); c == "" || v["embeds"] == nil {
				t.Fatalf("payload lacks content or embeds: %s", b)
			}
			if strings.Contains(string(b), `"components"`) {
				t.Fatalf("a webhook message cannot carry buttons: %s", b)
			}
			golden.JSON(t, "testdata/incoming_"+strings.ReplaceAll(tt.typ, ".", "_")+".golden", v)
		})
	}
	if _, skip, _ := IncomingPayload(commands.Event{Type: "job.completed", Data: json.RawMessage(`{}`)}); !skip {
		t.Error("job.completed is posted; the bot does not post it either")
	}
}
