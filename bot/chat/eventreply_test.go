package chat

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// The fields of the command layer's events that its tests assert (watch
// alerts, reminders, an outbid order) are worded and given their buttons
// here: the text of an alert as it is, Rent now confirming the alert's
// job, Extend 1 h carrying the order and the end it was shown for, and an
// outbid order named so.
func TestEventReplyOfCommandsEvents(t *testing.T) {
	end := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	reply := func(typ, data string) commands.Reply {
		t.Helper()
		r, ok := EventReply(commands.Event{Type: typ, Data: []byte(data)})
		if !ok {
			t.Fatalf("%s is not posted", typ)
		}
		return r
	}

	r := reply("watch.triggered", `{"message":"Price alert. Watch #7: RTX 4090 at $0.30","confirm":true,"job_id":"j1"}`)
	if r.Text != "Price alert. Watch #7: RTX 4090 at $0.30" || r.Status != commands.StatusConfirm || len(r.Buttons) != 1 ||
		r.Buttons[0].ActionID != "confirm:j1" || r.Buttons[0].Value != "j1" {
		t.Errorf("alert awaiting confirmation: %+v", r)
	}
	if r := reply("watch.triggered", `{"message":"Watch #7: Not rented: the watch has ended","job_id":"j1"}`); len(r.Buttons) != 0 ||
		r.Text != "Watch #7: Not rented: the watch has ended" {
		t.Errorf("alert without confirmation: %+v", r)
	}

	r = reply("order.expiring", `{"order":{"id":12,"ends_at":"`+end.Format(time.RFC3339)+`"}}`)
	if len(r.Buttons) == 0 || r.Buttons[0].ActionID != "extend:12" || r.Buttons[0].Value != strconv.FormatInt(end.Unix(), 10) {
		t.Errorf("reminder: %+v", r)
	}

	if r := reply("order.expired", `{"order":{"id":12},"reason":"outbid"}`); !strings.Contains(r.Text, "outbid") ||
		r.Status != commands.StatusFailed {
		t.Errorf("outbid order: %+v", r)
	}
}
