package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// The watch list (state, last price seen, last trigger) as POST
// /webhook/command answers it, from the command layer's own golden reply.
// UPDATE_GOLDEN=1 rewrites testdata/watch_list.json.
func TestWatchListGolden(t *testing.T) {
	raw, err := os.ReadFile("../../commands/testdata/watch-list.json")
	if err != nil {
		t.Fatal(err)
	}
	var r commands.Reply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	ans := (&API{}).replyAnswer(context.Background(), route{name: RouteCommand}, r, nil)
	if ans.status != http.StatusOK {
		t.Fatalf("status %d", ans.status)
	}
	path := filepath.Join("testdata", "watch_list.json")
	if updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, ans.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test -run WatchListGolden creates it)", err)
	}
	if string(want) != string(ans.body) {
		t.Errorf("watch list answer differs from %s:\n%s", path, ans.body)
	}
}
