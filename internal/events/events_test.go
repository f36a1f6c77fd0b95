package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clorebot/clorebot/internal/contract"
	"github.com/clorebot/clorebot/internal/events"
)

// Every delivered event type is one the published schema of an event
// names, once.
func TestDeliveredAreInTheSchema(t *testing.T) {
	dir, err := contract.SchemaDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Type struct {
				Enum []string `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range events.Delivered() {
		if seen[name] {
			t.Errorf("%s listed twice", name)
		}
		seen[name] = true
		if !slices.Contains(schema.Properties.Type.Enum, name) {
			t.Errorf("%s is delivered but docs/schema/event.json does not name it", name)
		}
	}
}
