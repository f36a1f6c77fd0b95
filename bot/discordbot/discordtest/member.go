package discordtest

import "net/http"

// SetMember makes user a member of guild with the role ids given (a guild
// the fake did not know exists from then on).
func (s *Server) SetMember(guild, user string, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members[guild] == nil {
		s.members[guild] = map[string][]string{}
	}
	s.members[guild][user] = append([]string{}, roles...)
}

// RemoveMember removes user from guild, as leaving or being kicked does.
func (s *Server) RemoveMember(guild, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.members[guild], user)
}

// guildMember answers GET /guilds/{guild}/members/{user} as Discord does: the
// guild member object, 404 Unknown Guild (10004) for a guild the bot is not
// in, 404 Unknown Member (10007) for a user who is not a member.
func (s *Server) guildMember(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.record(r, w); !ok || !s.botAuth(w, r) {
		return
	}
	guild, user := r.PathValue("guild"), r.PathValue("user")
	s.mu.Lock()
	members, known := s.members[guild]
	roles, member := members[user]
	roles = append([]string{}, roles...)
	s.mu.Unlock()
	switch {
	case !known:
		writeError(w, http.StatusNotFound, 10004, "Unknown Guild")
		return
	case !member:
		writeError(w, http.StatusNotFound, 10007, "Unknown Member")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"avatar": nil, "banner": nil, "communication_disabled_until": nil, "flags": 0,
		"joined_at": "2024-01-01T00:00:00.000000+00:00", "nick": nil, "pending": false, "premium_since": nil,
		"roles": roles, "mute": false, "deaf": false,
		"user": map[string]any{"id": user, "username": "member-" + user, "global_name": nil, "avatar": nil,
			"discriminator": "0", "public_flags": 0},
	})
}
