// Package discordtest is a local Discord for tests and benchmarks: the REST
// routes a bot uses (gateway discovery, command registration, interaction
// callbacks, webhook edits and follow-ups, channel messages, DM channels,
// guild members) and
// a gateway websocket (HELLO, IDENTIFY/RESUME, READY/RESUMED, heartbeat ACKs,
// dispatches, op 7, op 9, dropped sockets), speaking Discord's wire format
// (API v9, JSON text frames; JSON or multipart/form-data bodies with
// payload_json and files[N], for messages with attachments) on 127.0.0.1. It records every call so that
// tests can assert on what the bot sent, and it can misbehave on purpose.
//
// Point a discordgo session at it by rewriting https://discord.com/ to URL
// (see bot/discordbot's transport); the gateway URL is discovered from
// GET /api/v9/gateway as with real Discord.
//
// It is test support next to the door it fakes, like net/http/httptest:
// bot/discordbot's tests, cmd/clorebot's end-to-end tests and the benchmarks
// import it; no non-test code does (internal/layout checks).
package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Handshake says what the gateway does after IDENTIFY or RESUME.
type Handshake int

// Handshakes.
const (
	// Ready answers IDENTIFY with READY and RESUME with RESUMED (the default).
	Ready Handshake = iota
	// Silent answers nothing: discordgo's Open blocks forever.
	Silent
	// ReconnectFirst answers with op 7 as the first frame, which deadlocks
	// discordgo v0.29.0's Open (bwmarrin/discordgo#513).
	ReconnectFirst
)

// Options configures a Server.
type Options struct {
	Token             string        // bot token the REST routes require ("Bot " + Token)
	AppID             string        // application id put in READY (default "100")
	GuildID           string        // guild of the interactions built by Slash, Click, ... (default "G1")
	HeartbeatInterval time.Duration // sent in HELLO (default 45 s)
}

// Call is one REST request the fake received.
type Call struct {
	Method string
	Path   string // without the query
	Query  string
	Auth   string
	Body   json.RawMessage // the JSON body; of a multipart body, its payload_json
	Files  []File          // the files of a multipart body
	At     time.Time
}

// File is a file sent with a message (multipart field "files[N]").
type File struct {
	Field       string // "files[0]", ...
	Name        string
	ContentType string
	Data        []byte
}

// Message is a message the fake holds: an interaction's original response, a
// follow-up or a channel message.
type Message struct {
	ID        string
	ChannelID string
	Token     string // interaction token, "" for channel messages
	Body      json.RawMessage
	Flags     int
	Edits     int
	// Files are the message's attachments: those it was created with, or
	// those of the last edit that sent any.
	Files []File
}

// Server is a fake Discord. Create it with New; it closes with the test.
type Server struct {
	URL string // base URL ending in "/", for discord.api_url

	o   Options
	srv *httptest.Server
	up  websocket.Upgrader

	mu          sync.Mutex
	changed     chan struct{}
	seq         int64
	sessions    int
	conns       []*gwConn
	cur         *gwConn
	handshake   Handshake
	ack         bool
	identifies  int
	resumes     []Resume
	readies     int
	heartbeats  int
	calls       []Call
	callbacks   map[string]Call // interaction id -> first callback
	dispatched  map[string]time.Time
	messages    map[string]*Message
	originals   map[string]string // interaction token -> message id
	tokenChan   map[string]string // interaction token -> channel id
	expired     map[string]bool
	limits      map[string]limit
	nextID      int64
	dmChannels  map[string]string
	interaction map[string]string              // token -> interaction id
	clicked     map[string]string              // token -> id of the message a component interaction is on
	failing     map[string]callbackFailure     // interaction id -> how its next callback fails
	gate        chan struct{}                  // while open (non-nil), gateway upgrades wait
	members     map[string]map[string][]string // guild id -> user id -> role ids
}

// Resume is a RESUME the gateway received.
type Resume struct {
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

type limit struct {
	n          int
	retryAfter float64
}

type gwConn struct {
	c    *websocket.Conn
	wmu  sync.Mutex
	gone bool
}

// New starts a fake Discord on 127.0.0.1; it stops when the test ends.
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.AppID == "" {
		o.AppID = "100"
	}
	if o.GuildID == "" {
		o.GuildID = "G1"
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 45 * time.Second
	}
	s := &Server{
		o: o, changed: make(chan struct{}), ack: true,
		callbacks: map[string]Call{}, dispatched: map[string]time.Time{}, messages: map[string]*Message{},
		originals: map[string]string{}, tokenChan: map[string]string{}, expired: map[string]bool{},
		limits: map[string]limit{}, nextID: 900000, dmChannels: map[string]string{}, interaction: map[string]string{},
		failing: map[string]callbackFailure{}, clicked: map[string]string{},
		members: map[string]map[string][]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v9/gateway", s.gateway)
	mux.HandleFunc("GET /gw/", s.serveGateway)
	mux.HandleFunc("GET /gw", s.serveGateway)
	mux.HandleFunc("PUT /api/v9/applications/{app}/commands", s.bulkOverwrite)
	mux.HandleFunc("PUT /api/v9/applications/{app}/guilds/{guild}/commands", s.bulkOverwrite)
	mux.HandleFunc("POST /api/v9/interactions/{id}/{token}/callback", s.callback)
	mux.HandleFunc("GET /api/v9/webhooks/{app}/{token}/messages/{msg}", s.getWebhookMessage)
	mux.HandleFunc("PATCH /api/v9/webhooks/{app}/{token}/messages/{msg}", s.editWebhookMessage)
	mux.HandleFunc("DELETE /api/v9/webhooks/{app}/{token}/messages/{msg}", s.deleteWebhookMessage)
	mux.HandleFunc("POST /api/v9/webhooks/{app}/{token}", s.followup)
	mux.HandleFunc("POST /api/v9/channels/{ch}/messages", s.channelMessage)
	mux.HandleFunc("PATCH /api/v9/channels/{ch}/messages/{msg}", s.editChannelMessage)
	mux.HandleFunc("POST /api/v9/users/@me/channels", s.dmChannel)
	mux.HandleFunc("GET /api/v9/guilds/{guild}/members/{user}", s.guildMember)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.record(r, nil)
		writeError(w, http.StatusNotFound, 0, "404: Not Found")
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/"
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server and drops every gateway connection.
func (s *Server) Close() {
	s.ReleaseGateway()
	s.mu.Lock()
	conns := append([]*gwConn(nil), s.conns...)
	s.mu.Unlock()
	for _, g := range conns {
		_ = g.c.Close()
	}
	s.srv.Close()
}

// AppID is the application id the fake reports.
func (s *Server) AppID() string { return s.o.AppID }

// notify wakes every waiter; callers hold s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitFor waits until cond holds (it is checked after every change the fake
// sees) or the timeout passes, then fails the test naming what.
func (s *Server) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !s.Await(timeout, cond) {
		tb.Fatalf("discordtest: timed out after %v waiting for %s", timeout, what)
	}
}

// Await is WaitFor without a test: it reports whether cond held in time.
func (s *Server) Await(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond()
		}
	}
}

// SetHandshake chooses what the gateway does after the next IDENTIFY or RESUME.
func (s *Server) SetHandshake(h Handshake) {
	s.mu.Lock()
	s.handshake = h
	s.mu.Unlock()
}

// SetHeartbeatAcks turns the answers to heartbeats on or off.
func (s *Server) SetHeartbeatAcks(on bool) {
	s.mu.Lock()
	s.ack = on
	s.mu.Unlock()
}

// HoldGateway makes new gateway connections wait (before the websocket
// handshake) until ReleaseGateway.
func (s *Server) HoldGateway() {
	s.mu.Lock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
	s.mu.Unlock()
}

// ReleaseGateway lets held and new gateway connections through.
func (s *Server) ReleaseGateway() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// ExpireToken makes webhook calls with an interaction token fail as they do
// after Discord's 15 minutes.
func (s *Server) ExpireToken(token string) {
	s.mu.Lock()
	s.expired[token] = true
	s.mu.Unlock()
}

// RateLimit answers the next n requests whose path starts with prefix (such
// as "/api/v9/channels/") with 429 and retry_after seconds.
func (s *Server) RateLimit(prefix string, n int, retryAfter float64) {
	s.mu.Lock()
	s.limits[prefix] = limit{n: n, retryAfter: retryAfter}
	s.mu.Unlock()
}

// Stats is a snapshot of the gateway's counters.
type Stats struct {
	Connections int // websocket connections accepted
	Open        int // connections still open
	Identifies  int
	Resumes     []Resume
	Readies     int // READY and RESUMED sent
	Heartbeats  int
	Seq         int64
}

// Stats returns the gateway's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	open := 0
	for _, g := range s.conns {
		if !g.gone {
			open++
		}
	}
	return Stats{Connections: len(s.conns), Open: open, Identifies: s.identifies,
		Resumes: append([]Resume(nil), s.resumes...), Readies: s.readies, Heartbeats: s.heartbeats, Seq: s.seq}
}

// Calls returns the REST calls received so far whose path starts with prefix.
func (s *Server) Calls(prefix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Callback returns the first callback to an interaction.
func (s *Server) Callback(interactionID string) (Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.callbacks[interactionID]
	return c, ok
}

// Dispatched returns when the interaction was sent on the gateway.
func (s *Server) Dispatched(interactionID string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.dispatched[interactionID]
	return at, ok
}

// Original returns the original response of an interaction, as last edited.
func (s *Server) Original(token string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.originals[token]
	if !ok {
		return Message{}, false
	}
	m, ok := s.messages[id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the messages whose channel id is channel (every message
// for ""), in the order they were created.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if channel == "" || m.ChannelID == channel {
			out = append(out, *m)
		}
	}
	sortMessages(out)
	return out
}

// Followups returns the follow-up messages sent with an interaction token.
func (s *Server) Followups(token string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for id, m := range s.messages {
		if m.Token == token && s.originals[token] != id {
			out = append(out, *m)
		}
	}
	sortMessages(out)
	return out
}

func sortMessages(ms []Message) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && idLess(ms[j].ID, ms[j-1].ID); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

func idLess(a, b string) bool {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return x < y
}

func (s *Server) newID() string {
	s.nextID++
	return strconv.FormatInt(s.nextID, 10)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"message": msg, "code": code})
}

func errorf(format string, args ...any) error { return fmt.Errorf("discordtest: "+format, args...) }
