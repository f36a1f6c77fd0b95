package discordtest

// Interaction is the INTERACTION_CREATE payload as Discord sends it (API v9),
// with the fields a bot reads. Build it with Slash, Click or Autocomplete.
type Interaction struct {
	ID            string  `json:"id"`
	ApplicationID string  `json:"application_id"`
	Type          int     `json:"type"` // 1 ping, 2 command, 3 component, 4 autocomplete
	Token         string  `json:"token"`
	Version       int     `json:"version"`
	GuildID       string  `json:"guild_id,omitempty"`
	ChannelID     string  `json:"channel_id,omitempty"`
	Locale        string  `json:"locale,omitempty"`
	AppPerms      string  `json:"app_permissions,omitempty"`
	Member        *Member `json:"member,omitempty"`
	User          *User   `json:"user,omitempty"`
	Message       any     `json:"message,omitempty"`
	Data          any     `json:"data,omitempty"`
}

// Member is a guild member: the invoker of a guild interaction.
type Member struct {
	User        User     `json:"user"`
	Roles       []string `json:"roles"`
	JoinedAt    string   `json:"joined_at"`
	Permissions string   `json:"permissions"`
}

// User is a Discord user.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// Option is an application command option as sent in an interaction.
type Option struct {
	Name    string   `json:"name"`
	Type    int      `json:"type"`
	Value   any      `json:"value,omitempty"`
	Options []Option `json:"options,omitempty"`
	Focused bool     `json:"focused,omitempty"`
}

// Sub is a subcommand option (type 1) holding options.
func Sub(name string, opts ...Option) Option { return Option{Name: name, Type: 1, Options: opts} }

// Group is a subcommand group option (type 2).
func Group(name string, subs ...Option) Option { return Option{Name: name, Type: 2, Options: subs} }

// Str is a string option (type 3).
func Str(name, v string) Option { return Option{Name: name, Type: 3, Value: v} }

// Int is an integer option (type 4).
func Int(name string, v int64) Option { return Option{Name: name, Type: 4, Value: v} }

// Bool is a boolean option (type 5).
func Bool(name string, v bool) Option { return Option{Name: name, Type: 5, Value: v} }

// Num is a number option (type 10).
func Num(name string, v float64) Option { return Option{Name: name, Type: 10, Value: v} }

// Focus marks an option as the one being typed (autocomplete).
func Focus(o Option) Option { o.Focused = true; return o }

// Who is the invoker of an interaction: a user id and the member's roles.
type Who struct {
	UserID string
	Name   string
	Roles  []string
}

func base(id, token, app, guild string, typ int, who Who) Interaction {
	name := who.Name
	if name == "" {
		name = "user" + who.UserID
	}
	roles := who.Roles
	if roles == nil {
		roles = []string{}
	}
	return Interaction{ID: id, ApplicationID: app, Type: typ, Token: token, Version: 1,
		GuildID: guild, ChannelID: "C1", Locale: "en-US", AppPerms: "2147483647",
		Member: &Member{User: User{ID: who.UserID, Username: name}, Roles: roles,
			JoinedAt: "2024-01-01T00:00:00.000000+00:00", Permissions: "2147483647"}}
}

// Slash is a /<command> invocation with options (a subcommand and its options).
func (s *Server) Slash(id, token string, who Who, command string, opts ...Option) Interaction {
	i := base(id, token, s.o.AppID, s.o.GuildID, 2, who)
	i.Data = map[string]any{"id": "cmd-1", "name": command, "type": 1, "options": opts}
	return i
}

// Autocomplete is an autocomplete request while the user types the focused option.
func (s *Server) Autocomplete(id, token string, who Who, command string, opts ...Option) Interaction {
	i := base(id, token, s.o.AppID, s.o.GuildID, 4, who)
	i.Data = map[string]any{"id": "cmd-1", "name": command, "type": 1, "options": opts}
	return i
}

// Click is a button click with custom id on message messageID.
func (s *Server) Click(id, token string, who Who, customID, messageID string, ephemeral bool) Interaction {
	i := base(id, token, s.o.AppID, s.o.GuildID, 3, who)
	flags := 0
	if ephemeral {
		flags = 64
	}
	i.Message = map[string]any{"id": messageID, "channel_id": "C1", "content": "",
		"timestamp": "2026-01-01T00:00:00+00:00", "flags": flags}
	i.Data = map[string]any{"custom_id": customID, "component_type": 2}
	return i
}

// Ping is the PING Discord sends to an HTTP interactions endpoint.
func (s *Server) Ping(id, token string) Interaction {
	return Interaction{ID: id, ApplicationID: s.o.AppID, Type: 1, Token: token, Version: 1}
}
