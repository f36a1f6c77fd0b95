package discordbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bwmarrin/discordgo"
)

// CurrentRoles implements commands.RoleSource: the roles a user has now in
// the guild where a watch was set (where is the request's Channel,
// "<guild id>/<channel id>"), as policy lists name them
// ("discord-role:<id>"), from one REST call with the bot token
// (GET /guilds/{guild}/members/{user}). A user who is no longer a member
// (404 Unknown Member) has no roles: nil, nil. Anything else that is not
// the member (no bot token, a DM, an unknown guild, Discord failing) is an
// error: the roles are unknown and the caller refuses.
func (b *Bot) CurrentRoles(ctx context.Context, user, where string) ([]string, error) {
	id, ok := strings.CutPrefix(user, userPrefix)
	if !ok || !snowflakeLike(id) {
		return nil, fmt.Errorf("discordbot: current roles: %q is not a Discord user", user)
	}
	guild, _, _ := strings.Cut(where, "/")
	if guild == "dm" || !snowflakeLike(guild) {
		return nil, fmt.Errorf("discordbot: current roles: %q names no guild", where)
	}
	if b.o.Token == "" {
		return nil, errors.New("discordbot: current roles: no bot token (discord.bot_token) to ask Discord with")
	}
	m, err := b.rest.GuildMember(guild, id, discordgo.WithContext(ctx))
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusNotFound &&
		re.Message != nil && re.Message.Code == discordgo.ErrCodeUnknownMember {
		return nil, nil // left the guild (or was removed): no roles
	}
	if err != nil {
		return nil, fmt.Errorf("discordbot: current roles of %s in guild %s: %w", user, guild, b.redact(err))
	}
	roles := make([]string, 0, len(m.Roles))
	for _, r := range m.Roles {
		roles = append(roles, RolePrefix+r)
	}
	return roles, nil
}

// snowflakeLike accepts an id that can stand as one path segment of a
// Discord URL (real ids are digits; tests use short names).
func snowflakeLike(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsAny(s, "/?#%\\ .")
}
