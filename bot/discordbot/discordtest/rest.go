package discordtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

// record stores a call; it answers false (and writes a 429) when a rate
// limit applies to the path.
func (s *Server) record(r *http.Request, w http.ResponseWriter) (json.RawMessage, bool) {
	body, _, ok := s.recordFiles(r, w)
	return body, ok
}

// maxBody bounds a request body (Discord takes files of up to 10 MiB).
const maxBody = 10 << 20

// recordFiles is record for routes that take files: a multipart/form-data
// body (payload_json and files[N], as discordgo sends them) gives its JSON
// and its files; a malformed one is answered 400.
func (s *Server) recordFiles(r *http.Request, w http.ResponseWriter) (json.RawMessage, []File, bool) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var files []File
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		body, files, err = parseMultipart(body, params["boundary"])
		if err != nil && w != nil {
			writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
			return nil, nil, false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), Body: body, Files: files, At: time.Now()})
	s.notify()
	if w == nil {
		return body, files, true
	}
	for prefix, l := range s.limits {
		if l.n > 0 && strings.HasPrefix(r.URL.Path, prefix) {
			l.n--
			s.limits[prefix] = l
			writeJSON(w, http.StatusTooManyRequests, map[string]any{
				"message": "You are being rate limited.", "retry_after": l.retryAfter, "global": false})
			return nil, nil, false
		}
	}
	return body, files, true
}

// parseMultipart reads Discord's multipart message body: the JSON of part
// payload_json and the files of parts files[N], each with a file name.
func parseMultipart(body []byte, boundary string) (json.RawMessage, []File, error) {
	if boundary == "" {
		return nil, nil, errors.New("no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var payload json.RawMessage
	var files []File
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		switch name := p.FormName(); {
		case name == "payload_json":
			payload = data
		case strings.HasPrefix(name, "files[") && p.FileName() != "":
			files = append(files, File{Field: name, Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data})
		default:
			return nil, nil, fmt.Errorf("unexpected part %q", name)
		}
	}
	if payload == nil || !json.Valid(payload) {
		return nil, nil, errors.New("no payload_json")
	}
	return payload, files, nil
}

// botAuth checks the bot token on routes that need one.
func (s *Server) botAuth(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bot "+s.o.Token || s.o.Token == "" {
		writeError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
		return false
	}
	return true
}

func (s *Server) gateway(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.record(r, w); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": "ws://" + r.Host + "/gw"})
}

func (s *Server) bulkOverwrite(w http.ResponseWriter, r *http.Request) {
	body, ok := s.record(r, w)
	if !ok || !s.botAuth(w, r) {
		return
	}
	var cmds []map[string]any
	if err := json.Unmarshal(body, &cmds); err != nil {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	for _, c := range cmds {
		c["id"] = s.newID()
		c["application_id"] = r.PathValue("app")
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, cmds)
}

func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	body, files, ok := s.recordFiles(r, w)
	if !ok {
		return
	}
	id, token := r.PathValue("id"), r.PathValue("token")
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Flags int `json:"flags"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Type == 0 {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interaction[token] != id {
		writeError(w, http.StatusNotFound, 10062, "Unknown interaction")
		return
	}
	if _, dup := s.callbacks[id]; dup {
		writeError(w, http.StatusBadRequest, 40060, "Interaction has already been acknowledged.")
		return
	}
	fail, failing := s.failing[id]
	delete(s.failing, id)
	if failing && !fail.applied {
		writeError(w, fail.status, 0, http.StatusText(fail.status))
		return
	}
	s.callbacks[id] = Call{Method: r.Method, Path: r.URL.Path, Body: body, At: time.Now()}
	// Types 4 and 5 create the original response; 6 and 7 act on the
	// clicked message, which then is the original (7 replaces it; a click on
	// a message the fake does not hold gets a record of its own).
	if m, held := s.messages[s.clicked[token]]; held && (resp.Type == 6 || resp.Type == 7) {
		if resp.Type == 7 {
			var cb struct {
				Data json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(body, &cb)
			m.Body, m.Edits = cb.Data, m.Edits+1
		}
		s.originals[token] = m.ID
	} else if resp.Type == 4 || resp.Type == 5 || resp.Type == 6 || resp.Type == 7 {
		mid := s.newID()
		s.messages[mid] = &Message{ID: mid, ChannelID: s.tokenChan[token], Token: token, Body: body, Flags: resp.Data.Flags, Files: files}
		s.originals[token] = mid
	}
	s.notify()
	if failing {
		writeError(w, fail.status, 0, http.StatusText(fail.status))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getWebhookMessage answers GET /webhooks/{app}/{token}/messages/{msg}
// (@original: the interaction's response, 404 10008 before there is one).
func (s *Server) getWebhookMessage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.record(r, w); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.webhookMessage(w, r); m != nil {
		writeJSON(w, http.StatusOK, messageJSON(m))
	}
}

// webhookMessage finds the message a webhook route names, or answers the error.
func (s *Server) webhookMessage(w http.ResponseWriter, r *http.Request) *Message {
	token, msg := r.PathValue("token"), r.PathValue("msg")
	if r.PathValue("app") != s.o.AppID {
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return nil
	}
	if s.expired[token] {
		writeError(w, http.StatusUnauthorized, 50027, "Invalid Webhook Token")
		return nil
	}
	if msg == "@original" {
		msg = s.originals[token]
	}
	m, ok := s.messages[msg]
	if !ok || m.Token != token && s.originals[token] != m.ID {
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return nil
	}
	return m
}

func (s *Server) editWebhookMessage(w http.ResponseWriter, r *http.Request) {
	body, files, ok := s.recordFiles(r, w)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.webhookMessage(w, r)
	if m == nil {
		return
	}
	m.Body, m.Edits = body, m.Edits+1
	if files != nil {
		m.Files = files
	}
	s.notify()
	writeJSON(w, http.StatusOK, messageJSON(m))
}

func (s *Server) deleteWebhookMessage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.record(r, w); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.webhookMessage(w, r)
	if m == nil {
		return
	}
	delete(s.messages, m.ID)
	s.notify()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) followup(w http.ResponseWriter, r *http.Request) {
	body, files, ok := s.recordFiles(r, w)
	if !ok {
		return
	}
	token := r.PathValue("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PathValue("app") != s.o.AppID {
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	if s.expired[token] {
		writeError(w, http.StatusUnauthorized, 50027, "Invalid Webhook Token")
		return
	}
	if _, acked := s.originals[token]; !acked {
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	var f struct {
		Flags int `json:"flags"`
	}
	_ = json.Unmarshal(body, &f)
	m := &Message{ID: s.newID(), ChannelID: s.tokenChan[token], Token: token, Body: body, Flags: f.Flags, Files: files}
	s.messages[m.ID] = m
	s.notify()
	writeJSON(w, http.StatusOK, messageJSON(m))
}

func (s *Server) channelMessage(w http.ResponseWriter, r *http.Request) {
	body, files, ok := s.recordFiles(r, w)
	if !ok || !s.botAuth(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{ID: s.newID(), ChannelID: r.PathValue("ch"), Body: body, Files: files}
	s.messages[m.ID] = m
	s.notify()
	writeJSON(w, http.StatusOK, messageJSON(m))
}

func (s *Server) editChannelMessage(w http.ResponseWriter, r *http.Request) {
	body, files, ok := s.recordFiles(r, w)
	if !ok || !s.botAuth(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, found := s.messages[r.PathValue("msg")]
	if !found || m.ChannelID != r.PathValue("ch") || m.Token != "" {
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	m.Body, m.Edits = body, m.Edits+1
	if files != nil {
		m.Files = files
	}
	s.notify()
	writeJSON(w, http.StatusOK, messageJSON(m))
}

func (s *Server) dmChannel(w http.ResponseWriter, r *http.Request) {
	body, ok := s.record(r, w)
	if !ok || !s.botAuth(w, r) {
		return
	}
	var req struct {
		RecipientID string `json:"recipient_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.RecipientID == "" {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	id, ok := s.dmChannels[req.RecipientID]
	if !ok {
		id = "dm-" + req.RecipientID
		s.dmChannels[req.RecipientID] = id
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "type": 1,
		"recipients": []map[string]string{{"id": req.RecipientID, "username": "user"}}})
}

// messageJSON is a message as Discord answers it: the body sent, with ids.
func messageJSON(m *Message) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal(m.Body, &out)
	if d, ok := out["data"].(map[string]any); ok { // an interaction callback body
		out = d
	}
	out["id"], out["channel_id"], out["timestamp"] = m.ID, m.ChannelID, "2026-01-01T00:00:00+00:00"
	out["author"] = map[string]any{"id": "100", "username": "clorebot", "bot": true}
	return out
}

// Content decodes the JSON body of a message or callback.
func Content(body json.RawMessage) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal(body, &out)
	return out
}
