package sandbox

import "sync"

// hooks are situations tests arrange that the generated marketplace does not
// produce by itself: servers owned by a key and servers in the GigaSPOT pool.
// They live in memory, per Server (like the rate limit).
type hooks struct {
	mu       sync.Mutex
	own      map[int64]bool // server ids owned by every key
	gigaspot map[int64]bool
}

// owns reports whether the server belongs to the key. ASSUMPTION: the sandbox
// has one host account, the owner of every server marked with OwnServer.
func (h *hooks) owns(_ string, serverID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.own[serverID]
}

// onGigaspot reports whether the server is in the GigaSPOT pool.
func (h *hooks) onGigaspot(serverID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gigaspot[serverID]
}

// ownServers lists the servers marked as the renter's own, for my_servers.
func (h *hooks) ownServers() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int64, 0, len(h.own))
	for id := range h.own {
		out = append(out, id)
	}
	return out
}

// OwnServer makes a marketplace server the renter's own: create_order on it
// answers cant_rent_from_yourself. It applies to every key of this Server
// only (not to other Servers sharing the state file).
func (s *Server) OwnServer(serverID int64) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.own == nil {
		s.hooks.own = make(map[int64]bool)
	}
	s.hooks.own[serverID] = true
}

// MoveToGigaspot puts a marketplace server in the GigaSPOT pool:
// create_order on it answers machine-is-on-gigaspot. It applies to this
// Server only.
func (s *Server) MoveToGigaspot(serverID int64) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.gigaspot == nil {
		s.hooks.gigaspot = make(map[int64]bool)
	}
	s.hooks.gigaspot[serverID] = true
}
