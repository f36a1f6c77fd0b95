// Package slacktest is a local Slack for tests and benchmarks: the Web API
// methods clorebot calls (apps.connections.open, chat.postMessage,
// chat.update, chat.postEphemeral, conversations.open, and the file upload:
// files.getUploadURLExternal, the multipart POST to the upload URL,
// files.completeUploadExternal), a Socket Mode WebSocket that says hello,
// pings, pushes envelopes and records acks, and response_url endpoints. It
// speaks the wire format slack-go v0.35.0 expects (see
// shared/chat-platforms.md Part A), so the real SDK client drives it.
//
// It is test support next to the door it fakes, like net/http/httptest:
// bot/slackbot's tests, cmd/clorebot's end-to-end tests and the benchmarks
// import it; no non-test code does (internal/layout checks).
package slacktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is a message the bot posted with chat.postMessage, as it stands
// after every chat.update.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Versions holds the text of the message as posted and after each update.
	Versions []string
}

// Ephemeral is a message the bot posted with chat.postEphemeral.
type Ephemeral struct {
	Channel string
	User    string
	Text    string
	Blocks  json.RawMessage
}

// Response is a POST the bot made to a response_url.
type Response struct {
	Path string
	Body map[string]any
}

// Ack is an envelope acknowledgement read from the socket.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
	At         time.Time       `json:"-"`
}

// File is a file the bot uploaded (files.getUploadURLExternal, the POST of
// its bytes to the upload URL, files.completeUploadExternal) and shared.
type File struct {
	ID             string
	Name           string // the filename given to files.getUploadURLExternal
	AltText        string
	Title          string
	Channel        string // channel_id of the completion
	ThreadTS       string
	InitialComment string
	Data           []byte // the bytes POSTed, as multipart field "file"
}

// Options configures a Server.
type Options struct {
	AppToken, BotToken string
	// PingEvery spaces the WebSocket PINGs (default 100 ms); negative: none.
	PingEvery time.Duration
	// TeamID, TeamName, EnterpriseID, BotID and AppID are who the bot token
	// belongs to, as auth.test and bots.info answer (defaults T1, acme,
	// none, B1, A1); Slash and Click payloads carry the team and app.
	TeamID, TeamName, EnterpriseID, BotID, AppID string
}

// Server is a fake Slack on 127.0.0.1.
type Server struct {
	*httptest.Server
	o Options

	mu         sync.Mutex
	changed    chan struct{}
	opens      int
	sockets    int // WebSocket connections accepted
	attempts   int // apps.connections.open calls, refused ones included
	conn       *websocket.Conn
	connWrite  *sync.Mutex
	pingsOff   bool
	sentAt     map[string]time.Time
	acks       map[string][]Ack
	messages   []*Message
	ephemerals []Ephemeral
	responses  []Response
	calls      map[string]int
	limited    map[string]int // method -> 429s still to answer
	refuse     bool
	notIn      map[string]bool
	nextID     int
	// uploads are files whose upload URL was given, by id; files are the
	// completed ones, oldest first.
	uploads map[string]*File
	files   []File
}

// New starts a fake Slack; Close stops it.
func New(o Options) *Server {
	if o.PingEvery == 0 {
		o.PingEvery = 100 * time.Millisecond
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.TeamID, "T1")
	def(&o.TeamName, "acme")
	def(&o.BotID, "B1")
	def(&o.AppID, "A1")
	s := &Server{o: o, changed: make(chan struct{}), sentAt: map[string]time.Time{}, acks: map[string][]Ack{},
		calls: map[string]int{}, limited: map[string]int{}, notIn: map[string]bool{}, uploads: map[string]*File{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/apps.connections.open", s.open)
	mux.HandleFunc("POST /api/chat.postMessage", s.web(s.postMessage))
	mux.HandleFunc("POST /api/chat.update", s.web(s.update))
	mux.HandleFunc("POST /api/chat.postEphemeral", s.web(s.postEphemeral))
	mux.HandleFunc("POST /api/auth.test", s.web(s.authTest))
	mux.HandleFunc("POST /api/bots.info", s.web(s.botsInfo))
	mux.HandleFunc("POST /api/files.getUploadURLExternal", s.web(s.uploadURL))
	mux.HandleFunc("POST /api/files.completeUploadExternal", s.web(s.completeUpload))
	mux.HandleFunc("POST /api/conversations.open", s.web(s.openConversation))
	mux.HandleFunc("POST /upload/{id}", s.upload)
	mux.HandleFunc("GET /link/", s.socket)
	mux.HandleFunc("POST /response/", s.response)
	s.Server = httptest.NewServer(mux)
	return s
}

// APIURL is the Web API base to give slack.OptionAPIURL (trailing slash included).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// ResponseURL is a response_url for one command or click.
func (s *Server) ResponseURL(id string) string { return s.URL + "/response/" + id }

// notify wakes every waiter; call with mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond holds or timeout passes; it reports whether cond
// held. cond runs with the server's state locked: it must not call the
// Server's methods (use the Wait* helpers).
func (s *Server) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.o.AppToken {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	s.mu.Lock()
	s.attempts++
	s.notify()
	if s.refuse {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "internal_error"})
		return
	}
	s.opens++
	n := s.opens
	s.notify()
	s.mu.Unlock()
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/link/?ticket=t" + strconv.Itoa(n)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": url})
}

// RefuseOpens makes apps.connections.open fail (not for lack of auth:
// the client keeps trying) until called with false.
func (s *Server) RefuseOpens(refuse bool) {
	s.mu.Lock()
	s.refuse = refuse
	s.mu.Unlock()
}

// WaitOpenAttempts waits until apps.connections.open was called n times,
// refused calls included.
func (s *Server) WaitOpenAttempts(n int, timeout time.Duration) bool {
	return s.Wait(timeout, func() bool { return s.attempts >= n })
}

// Opens is how many times apps.connections.open succeeded.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	wmu := &sync.Mutex{}
	s.mu.Lock()
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn, s.connWrite = conn, wmu
	s.sockets++
	s.notify()
	s.mu.Unlock()
	write := func(v any) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.WriteJSON(v)
	}
	_ = write(map[string]any{"type": "hello", "num_connections": 1,
		"debug_info": map[string]any{"host": "fake-1"}, "connection_info": map[string]any{"app_id": "A1"}})
	done := make(chan struct{})
	defer close(done)
	if s.o.PingEvery > 0 {
		go s.ping(conn, wmu, done)
	}
	for {
		var a Ack
		if err := conn.ReadJSON(&a); err != nil {
			s.mu.Lock()
			if s.conn == conn {
				s.conn = nil
				s.notify()
			}
			s.mu.Unlock()
			return
		}
		a.At = time.Now()
		s.mu.Lock()
		s.acks[a.EnvelopeID] = append(s.acks[a.EnvelopeID], a)
		s.notify()
		s.mu.Unlock()
	}
}

func (s *Server) ping(conn *websocket.Conn, wmu *sync.Mutex, done <-chan struct{}) {
	t := time.NewTicker(s.o.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		off := s.pingsOff
		s.mu.Unlock()
		if off {
			continue
		}
		wmu.Lock()
		err := conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
		wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// StopPings stops (or, with false, resumes) WebSocket PINGs.
func (s *Server) StopPings(off bool) {
	s.mu.Lock()
	s.pingsOff = off
	s.mu.Unlock()
}

// Connected reports whether a client holds the socket.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// WaitConnected waits until the socket of the n-th connection (or a later
// one) is open.
func (s *Server) WaitConnected(n int, timeout time.Duration) bool {
	return s.Wait(timeout, func() bool { return s.conn != nil && s.sockets >= n })
}

// ErrNotConnected is returned when no client holds the socket.
var ErrNotConnected = errors.New("slacktest: no socket connected")

// Send writes one frame to the socket; envelopes with an envelope_id have
// their send time recorded for AckLatency.
func (s *Server) Send(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var env struct {
		EnvelopeID string `json:"envelope_id"`
	}
	_ = json.Unmarshal(raw, &env)
	s.mu.Lock()
	conn, wmu := s.conn, s.connWrite
	if env.EnvelopeID != "" {
		if _, ok := s.sentAt[env.EnvelopeID]; !ok {
			s.sentAt[env.EnvelopeID] = time.Now()
		}
	}
	s.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	wmu.Lock()
	defer wmu.Unlock()
	return conn.WriteMessage(websocket.TextMessage, raw)
}

// Disconnect sends a disconnect envelope, as Slack does before a refresh.
func (s *Server) Disconnect(reason string) error {
	return s.Send(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "fake-1"}})
}

// CloseAbruptly drops the socket without a close frame.
func (s *Server) CloseAbruptly() {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		_ = conn.UnderlyingConn().Close()
	}
}

// Envelope builds a Socket Mode envelope.
func Envelope(id, typ string, payload any, retry int) map[string]any {
	return map[string]any{"envelope_id": id, "type": typ, "payload": payload,
		"accepts_response_payload": typ == "slash_commands", "retry_attempt": retry}
}

// Slash is the payload of a /clore slash command.
func (s *Server) Slash(user, channel, text, trigger string) map[string]any {
	p := map[string]any{"token": "x", "team_id": s.o.TeamID, "team_domain": s.o.TeamName, "channel_id": channel,
		"channel_name": "ops", "user_id": user, "user_name": strings.ToLower(user), "command": "/clore",
		"text": text, "api_app_id": s.o.AppID, "is_enterprise_install": "false",
		"response_url": s.ResponseURL("cmd-" + trigger), "trigger_id": trigger}
	if s.o.EnterpriseID != "" {
		p["enterprise_id"] = s.o.EnterpriseID
	}
	return p
}

// Click is the payload of a block_actions click on a button of a message.
func (s *Server) Click(user, channel, messageTS, actionID, value, trigger string) map[string]any {
	p := map[string]any{"type": "block_actions", "api_app_id": s.o.AppID, "token": "x", "trigger_id": trigger,
		"team":      map[string]any{"id": s.o.TeamID, "domain": s.o.TeamName},
		"user":      map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": s.o.TeamID},
		"channel":   map[string]any{"id": channel, "name": "ops"},
		"container": map[string]any{"type": "message", "message_ts": messageTS, "channel_id": channel, "is_ephemeral": false},
		"message":   map[string]any{"type": "message", "ts": messageTS, "text": ""},
		"state":     map[string]any{"values": map[string]any{}}, "response_url": s.ResponseURL("act-" + trigger),
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "actions", "value": value,
			"text": map[string]any{"type": "plain_text", "text": "button"}, "action_ts": "1700000001.000200"}}}
	if s.o.EnterpriseID != "" {
		p["enterprise"] = map[string]any{"id": s.o.EnterpriseID, "name": "org"}
	}
	return p
}

// EphemeralClick is the payload of a click on a button of an ephemeral
// message (one only the clicker sees, shown through a response_url).
func (s *Server) EphemeralClick(user, channel, actionID, value, trigger string) map[string]any {
	p := s.Click(user, channel, "1700000099.000100", actionID, value, trigger)
	p["container"].(map[string]any)["is_ephemeral"] = true
	delete(p, "message")
	return p
}

// Acks returns the acks of an envelope, in order.
func (s *Server) Acks(envelopeID string) []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks[envelopeID]...)
}

// WaitAck waits for the first ack of an envelope.
func (s *Server) WaitAck(envelopeID string, timeout time.Duration) (Ack, bool) {
	var a Ack
	ok := s.Wait(timeout, func() bool {
		if as := s.acks[envelopeID]; len(as) > 0 {
			a = as[0]
			return true
		}
		return false
	})
	return a, ok
}

// WaitAcks waits until an envelope has n acks and returns them.
func (s *Server) WaitAcks(envelopeID string, n int, timeout time.Duration) []Ack {
	var got []Ack
	s.Wait(timeout, func() bool {
		got = append([]Ack(nil), s.acks[envelopeID]...)
		return len(got) >= n
	})
	return got
}

// Forget drops what the fake holds of an envelope (its acks and send
// time): a benchmark that sends tens of thousands of envelopes keeps its
// heap, which every garbage collection marks, the size of the bot's own.
func (s *Server) Forget(envelopeID string) {
	s.mu.Lock()
	delete(s.acks, envelopeID)
	delete(s.sentAt, envelopeID)
	s.mu.Unlock()
}

// AckLatency is the time from sending an envelope to its first ack.
func (s *Server) AckLatency(envelopeID string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent, ok := s.sentAt[envelopeID]
	as := s.acks[envelopeID]
	if !ok || len(as) == 0 {
		return 0, false
	}
	return as[0].At.Sub(sent), true
}

// RateLimit makes the next n calls of a Web API method answer 429 with
// Retry-After: 1.
func (s *Server) RateLimit(method string, n int) {
	s.mu.Lock()
	s.limited[method] = n
	s.mu.Unlock()
}

// NotInChannel makes chat.postMessage and chat.postEphemeral to channel fail
// with not_in_channel, as Slack does before the bot is invited.
func (s *Server) NotInChannel(channel string) {
	s.mu.Lock()
	s.notIn[channel] = true
	s.mu.Unlock()
}

// Calls is how many times a Web API method was called (429s included).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// web wraps a form-encoded Web API method: bot token check (form token= or
// Bearer), call counting, injected 429s.
func (s *Server) web(h func(form map[string]string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.calls[method]++
		limited := s.limited[method] > 0
		if limited {
			s.limited[method]--
		}
		s.notify()
		s.mu.Unlock()
		if limited {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
			return
		}
		token := r.PostForm.Get("token")
		if token == "" {
			token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if token != s.o.BotToken {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		out, err := h(form)
		if err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// authTest answers auth.test: the bot token's workspace, org and bot.
func (s *Server) authTest(map[string]string) (any, error) {
	out := map[string]any{"ok": true, "url": "https://" + s.o.TeamName + ".slack.com/", "team": s.o.TeamName,
		"user": "clorebot", "team_id": s.o.TeamID, "user_id": "UBOT", "bot_id": s.o.BotID,
		"is_enterprise_install": false}
	if s.o.EnterpriseID != "" {
		out["enterprise_id"] = s.o.EnterpriseID
	}
	return out, nil
}

// botsInfo answers bots.info for the bot token's own bot: its app id.
func (s *Server) botsInfo(f map[string]string) (any, error) {
	if f["bot"] != s.o.BotID {
		return nil, errors.New("bot_not_found")
	}
	return map[string]any{"ok": true, "bot": map[string]any{"id": s.o.BotID, "name": "clorebot", "deleted": false,
		"app_id": s.o.AppID, "user_id": "UBOT"}}, nil
}

func (s *Server) postMessage(f map[string]string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f["channel"] == "" {
		return nil, errors.New("channel_not_found")
	}
	if s.notIn[f["channel"]] {
		return nil, errors.New("not_in_channel")
	}
	s.nextID++
	ts := fmt.Sprintf("1700000000.%06d", s.nextID)
	m := &Message{Channel: f["channel"], TS: ts, ThreadTS: f["thread_ts"], Text: f["text"],
		Blocks: json.RawMessage(f["blocks"]), Versions: []string{f["text"]}}
	s.messages = append(s.messages, m)
	s.notify()
	return map[string]any{"ok": true, "channel": m.Channel, "ts": ts, "message": map[string]any{"text": m.Text}}, nil
}

func (s *Server) update(f map[string]string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.Channel == f["channel"] && m.TS == f["ts"] {
			m.Text, m.Blocks = f["text"], json.RawMessage(f["blocks"])
			m.Versions = append(m.Versions, f["text"])
			s.notify()
			return map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text}, nil
		}
	}
	return nil, errors.New("message_not_found")
}

func (s *Server) postEphemeral(f map[string]string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notIn[f["channel"]] {
		return nil, errors.New("not_in_channel")
	}
	s.ephemerals = append(s.ephemerals, Ephemeral{Channel: f["channel"], User: f["user"], Text: f["text"],
		Blocks: json.RawMessage(f["blocks"])})
	s.nextID++
	s.notify()
	return map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000000.%06d", s.nextID)}, nil
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.responses = append(s.responses, Response{Path: r.URL.Path, Body: body})
	s.notify()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// Messages returns copies of the posted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked()
}

func (s *Server) messagesLocked() []Message {
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
		out[i].Versions = append([]string(nil), m.Versions...)
	}
	return out
}

// Ephemerals returns the ephemeral messages posted, oldest first.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ephemeral(nil), s.ephemerals...)
}

// Responses returns the response_url posts, oldest first.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses...)
}

// WaitMessages waits until cond holds over the posted messages.
func (s *Server) WaitMessages(timeout time.Duration, cond func([]Message) bool) ([]Message, bool) {
	var got []Message
	ok := s.Wait(timeout, func() bool {
		got = s.messagesLocked()
		return cond(got)
	})
	return got, ok
}

// WaitResponses waits until cond holds over the response_url posts.
func (s *Server) WaitResponses(timeout time.Duration, cond func([]Response) bool) ([]Response, bool) {
	var got []Response
	ok := s.Wait(timeout, func() bool {
		got = append([]Response(nil), s.responses...)
		return cond(got)
	})
	return got, ok
}

// WaitEphemerals waits until cond holds over the ephemeral messages.
func (s *Server) WaitEphemerals(timeout time.Duration, cond func([]Ephemeral) bool) ([]Ephemeral, bool) {
	var got []Ephemeral
	ok := s.Wait(timeout, func() bool {
		got = append([]Ephemeral(nil), s.ephemerals...)
		return cond(got)
	})
	return got, ok
}

// uploadURL answers files.getUploadURLExternal: an upload URL on this
// server (the API's host, so that slack-go sends the token to it).
func (s *Server) uploadURL(f map[string]string) (any, error) {
	n, err := strconv.Atoi(f["length"])
	if f["filename"] == "" || err != nil || n <= 0 {
		return nil, errors.New("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := fmt.Sprintf("F%06d", s.nextID)
	// Title holds the declared length until the completion names the title.
	s.uploads[id] = &File{ID: id, Name: f["filename"], AltText: f["alt_txt"], Title: strconv.Itoa(n)}
	return map[string]any{"ok": true, "upload_url": s.URL + "/upload/" + id, "file_id": id}, nil
}

// upload takes the file's bytes as Slack's upload URL does: a multipart
// POST with the bot token as Bearer and the bytes in field "file", of the
// length declared; it answers in plain text.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != s.o.BotToken {
		http.Error(w, "invalid_auth", http.StatusUnauthorized)
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "no file", http.StatusBadRequest)
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uploads[r.PathValue("id")]
	if u == nil || u.Title != strconv.Itoa(len(data)) {
		http.Error(w, "unknown upload or wrong length", http.StatusBadRequest)
		return
	}
	u.Data = data
	s.notify()
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "OK - %d", len(data))
}

// completeUpload answers files.completeUploadExternal: the uploaded files
// are shared in channel_id (thread_ts), the bot a member there.
func (s *Server) completeUpload(f map[string]string) (any, error) {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(f["files"]), &files); err != nil || len(files) == 0 {
		return nil, errors.New("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notIn[f["channel_id"]] {
		return nil, errors.New("not_in_channel")
	}
	var out []map[string]any
	for _, fl := range files {
		u := s.uploads[fl.ID]
		if u == nil || u.Data == nil {
			return nil, errors.New("file_not_found")
		}
		delete(s.uploads, fl.ID)
		u.Title, u.Channel, u.ThreadTS, u.InitialComment = fl.Title, f["channel_id"], f["thread_ts"], f["initial_comment"]
		s.files = append(s.files, *u)
		out = append(out, map[string]any{"id": u.ID, "title": u.Title})
	}
	s.notify()
	return map[string]any{"ok": true, "files": out}, nil
}

// openConversation answers conversations.open for one user: their direct
// conversation with the bot, "D" + the user id.
func (s *Server) openConversation(f map[string]string) (any, error) {
	if f["users"] == "" || strings.Contains(f["users"], ",") {
		return nil, errors.New("invalid_arguments")
	}
	return map[string]any{"ok": true, "channel": map[string]any{"id": "D" + f["users"], "is_im": true}}, nil
}

// Files returns the files shared, oldest first.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]File(nil), s.files...)
}

// WaitFiles waits until cond holds over the shared files.
func (s *Server) WaitFiles(timeout time.Duration, cond func([]File) bool) ([]File, bool) {
	var got []File
	ok := s.Wait(timeout, func() bool {
		got = append([]File(nil), s.files...)
		return cond(got)
	})
	return got, ok
}
