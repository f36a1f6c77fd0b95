package discordtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

// write sends one JSON text frame; writes on one connection are serialised.
func (g *gwConn) write(v any) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	return g.c.WriteJSON(v)
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	s.record(r, nil)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	g := &gwConn{c: c}
	s.mu.Lock()
	s.conns = append(s.conns, g)
	s.cur = g
	s.notify()
	s.mu.Unlock()
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		g.gone = true
		if s.cur == g {
			s.cur = nil
		}
		s.notify()
		s.mu.Unlock()
	}()
	hello := map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": s.o.HeartbeatInterval.Milliseconds()}, "s": nil, "t": nil}
	if g.write(hello) != nil {
		return
	}
	for {
		var f frame
		if err := c.ReadJSON(&f); err != nil {
			return
		}
		if !s.onFrame(g, f) {
			return
		}
	}
}

// onFrame answers one client frame; false ends the connection.
func (s *Server) onFrame(g *gwConn, f frame) bool {
	switch f.Op {
	case 1:
		s.mu.Lock()
		s.heartbeats++
		ack := s.ack
		s.notify()
		s.mu.Unlock()
		if ack {
			return g.write(map[string]any{"op": 11}) == nil
		}
	case 2:
		s.mu.Lock()
		s.identifies++
		s.sessions++
		sid := "sess-" + strconv.Itoa(s.sessions)
		s.notify()
		s.mu.Unlock()
		return s.answerHandshake(g, "READY", map[string]any{
			"v": 9, "session_id": sid,
			"user":        map[string]any{"id": s.o.AppID, "username": "clorebot", "bot": true},
			"application": map[string]any{"id": s.o.AppID, "flags": 0},
			"guilds":      []any{}, "private_channels": []any{},
		})
	case 6:
		var res Resume
		_ = json.Unmarshal(f.D, &res)
		s.mu.Lock()
		s.resumes = append(s.resumes, res)
		s.notify()
		s.mu.Unlock()
		return s.answerHandshake(g, "RESUMED", map[string]any{})
	}
	return true
}

// answerHandshake sends READY or RESUMED, or misbehaves as configured.
func (s *Server) answerHandshake(g *gwConn, typ string, d any) bool {
	s.mu.Lock()
	h := s.handshake
	s.mu.Unlock()
	switch h {
	case Silent:
		return true
	case ReconnectFirst:
		return g.write(map[string]any{"op": 7, "d": nil}) == nil
	}
	if s.send(g, typ, d) != nil {
		return false
	}
	s.mu.Lock()
	s.readies++
	s.notify()
	s.mu.Unlock()
	return true
}

// send writes a dispatch with the next sequence number; sequence numbers
// reach the connection in order.
func (s *Server) send(g *gwConn, typ string, d any) error {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	g.wmu.Lock()
	s.mu.Unlock()
	defer g.wmu.Unlock()
	return g.c.WriteJSON(map[string]any{"op": 0, "s": seq, "t": typ, "d": d})
}

// Dispatch sends an op 0 event on the current connection with the next
// sequence number.
func (s *Server) Dispatch(typ string, d any) error {
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	if g == nil {
		return errorf("no gateway connection")
	}
	return s.send(g, typ, d)
}

// Interaction sends an INTERACTION_CREATE and notes when, for latency figures.
func (s *Server) Interaction(i Interaction) error {
	s.Expect(i)
	return s.Dispatch("INTERACTION_CREATE", i)
}

// Expect registers an interaction the bot will answer (as Interaction
// does; HTTP interactions, which do not pass the gateway, need it too).
func (s *Server) Expect(i Interaction) {
	s.mu.Lock()
	s.interaction[i.Token] = i.ID
	s.tokenChan[i.Token] = i.ChannelID
	s.dispatched[i.ID] = time.Now()
	if m, ok := i.Message.(map[string]any); ok {
		if id, ok := m["id"].(string); ok {
			s.clicked[i.Token] = id
		}
	}
	s.mu.Unlock()
}

// AcknowledgedElsewhere registers an interaction that someone else (another
// process) has already answered: the bot's callback then gets 400 with code
// 40060, as from Discord. Callback reports that other answer.
func (s *Server) AcknowledgedElsewhere(i Interaction) {
	s.Expect(i)
	s.mu.Lock()
	s.callbacks[i.ID] = Call{Method: http.MethodPost, Body: json.RawMessage(`{"type":5}`), At: time.Now()}
	s.mu.Unlock()
}

// callbackFailure is how an interaction's next callback fails.
type callbackFailure struct {
	status  int
	applied bool
}

// FailNextCallback makes the next callback of interaction id answer status
// (a 5xx: Discord's or a proxy's failure) with no error code; when applied,
// the callback takes effect first, as when only its answer is lost.
func (s *Server) FailNextCallback(id string, status int, applied bool) {
	s.mu.Lock()
	s.failing[id] = callbackFailure{status: status, applied: applied}
	s.mu.Unlock()
}

// SendOp sends a non-dispatch frame such as op 7 RECONNECT or op 9
// INVALID_SESSION on the current connection.
func (s *Server) SendOp(op int, d any) error {
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	if g == nil {
		return errorf("no gateway connection")
	}
	return g.write(map[string]any{"op": op, "d": d})
}

// Drop closes the current connection's socket without a close frame.
func (s *Server) Drop() error {
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	if g == nil {
		return errorf("no gateway connection")
	}
	return g.c.UnderlyingConn().Close()
}

// Connected reports whether a gateway connection is open and has been
// answered with READY or RESUMED at least n times in all.
func (s *Server) Connected(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil && !s.cur.gone && s.readies >= n
}
