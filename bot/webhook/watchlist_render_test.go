package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/golden"
)

// The watch list (state, last price seen, last trigger) as POST
// /webhook/command answers it, from the command layer's own golden reply.
// go test -update rewrites testdata/watch_list.json.
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
	golden.Equal(t, filepath.Join("testdata", "watch_list.json"), ans.body)
}
