package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/httpserver"
)

type recordedReply struct {
	typ, url, ref string
	data          json.RawMessage
}

type fakeReplies struct{ got []recordedReply }

func (f *fakeReplies) EnqueueReply(_ context.Context, typ string, data json.RawMessage, url, ref, _ string, _ time.Time) (int64, error) {
	f.got = append(f.got, recordedReply{typ, url, ref, data})
	return int64(len(f.got)), nil
}

type fakeConnections struct{ got []recordedReply }

func (f *fakeConnections) EnqueueConnection(_ context.Context, jobID string, data json.RawMessage, url, ref, _ string, _ time.Time) error {
	f.got = append(f.got, recordedReply{jobID, url, ref, data})
	return nil
}

func (f *fakeConnections) TakeConnection(context.Context, string) (json.RawMessage, bool, error) {
	return nil, false, nil
}

func TestCallbackNotifierKeepsOnlyPrivatePartsOfWebhookRents(t *testing.T) {
	private := &commands.PrivatePart{Title: "Connect to order #7", Fields: []commands.Field{{Name: "Password", Value: "pw"}}}
	tests := []struct {
		name   string
		target commands.Target
		reply  commands.Reply
		kept   bool
		err    string
	}{
		{"connection details to the callback", commands.Target{Platform: "webhook", User: "webhook:zap", ReplyTarget: "https://cb.example/x"},
			commands.Reply{JobID: "j1", Private: private}, true, ""},
		{"progress without a private part", commands.Target{Platform: "webhook", User: "webhook:zap", ReplyTarget: "https://cb.example/x"},
			commands.Reply{JobID: "j1", Text: "Provisioning"}, false, ""},
		{"no callback_url: kept for the job's GET", commands.Target{Platform: "webhook", User: "webhook:zap"},
			commands.Reply{JobID: "j1", Private: private}, true, ""},
		{"a chat target", commands.Target{Platform: "slack", User: "slack:U1", ReplyTarget: "https://hooks.slack.com/x"},
			commands.Reply{JobID: "j1", Private: private}, false, ""},
		{"a callback that is no http URL", commands.Target{Platform: "webhook", User: "webhook:zap", ReplyTarget: "ftp://cb.example"},
			commands.Reply{JobID: "j1", Private: private}, false, "callback_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeConnections{}
			_, err := CallbackNotifier{Store: f}.Notify(context.Background(), tt.target, tt.reply)
			if (err != nil) != (tt.err != "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Notify error = %v, want one naming %q", err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Fatalf("the error quotes the password: %v", err)
			}
			if got := len(f.got) == 1; got != tt.kept {
				t.Fatalf("kept %d, want kept=%v", len(f.got), tt.kept)
			}
			if tt.kept {
				g := f.got[0]
				if g.typ != "j1" || g.url != tt.target.ReplyTarget || g.ref != "key:zap" ||
					!strings.Contains(string(g.data), `"job_id":"j1"`) || !strings.Contains(string(g.data), `"password":"pw"`) {
					t.Fatalf("kept %+v %s", g, g.data)
				}
			}
		})
	}
}

// okService answers every command at once.
type okService struct{ fakeService }

func (okService) Handle(context.Context, commands.Request) commands.Reply {
	return commands.Reply{Status: commands.StatusOK, Title: "Orders", Text: "none"}
}

// An answer given at once goes to the request's callback_url too, once per
// request, typed by its route.
func TestImmediateAnswersGoToTheCallbackOnce(t *testing.T) {
	key, _ := ConfiguredKey("k", "plain-secret-for-replies")
	replies := &fakeReplies{}
	a := NewAPI(APIOptions{Service: &okService{}, Keys: []Key{key}, Replies: replies})
	s := httpserver.New(httpserver.Options{})
	a.Mount(s)
	for _, tc := range []struct{ path, body, typ string }{
		{"/webhook/status", `{"callback_url":"https://cb.example/s"}`, StatusReportEvent},
		{"/webhook/command", `{"text":"status","callback_url":"https://cb.example/c"}`, CommandReplyEvent},
	} {
		before := len(replies.got)
		for range 2 { // a redelivery is answered from the dedup record
			if w := post(s, key.Secret, "msg_"+tc.typ, tc.path, []byte(tc.body)); w.Code != 200 {
				t.Fatalf("%s = %d %s", tc.path, w.Code, w.Body)
			}
		}
		if len(replies.got) != before+1 {
			t.Fatalf("%s queued %d callback deliveries, want 1", tc.path, len(replies.got)-before)
		}
		got := replies.got[len(replies.got)-1]
		if got.typ != tc.typ || !strings.HasPrefix(got.url, "https://cb.example/") || got.ref != "key:k" || !strings.Contains(string(got.data), `"title":"Orders"`) {
			t.Errorf("%s queued %+v %s", tc.path, got, got.data)
		}
	}
}
