package discordbot

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/golden"
)

// The watch list (state, last price seen, last trigger) as Discord shows
// it, from the command layer's own golden reply.
func TestWatchListGolden(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../commands/testdata/watch-list.json")
	if err != nil {
		t.Fatal(err)
	}
	var r commands.Reply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	golden.JSON(t, "testdata/watch_list.golden", renderReply(r).responseData())
}
