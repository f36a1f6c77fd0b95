package discordbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clorebot/clorebot/bot/chat"
)

// DoctorOptions is the Discord configuration `clorebot doctor` checks.
type DoctorOptions struct {
	Token, AppID, PublicKey, APIURL string
	GuildIDs                        []string
	HTTPClient                      *http.Client
	Timeout                         time.Duration // of each call to Discord
}

// Doctor checks the Discord deployment as configured, one chat.Finding
// (check "discord") each through report: the bot token (users/@me) and the
// /clore command's registration where serve registers it (the guilds of
// guild_ids, else globally), with a leftover global command beside guild
// ones. It changes nothing.
func Doctor(ctx context.Context, o DoctorOptions, report func(chat.Finding)) {
	dc := doctorCheck{o: o, ctx: ctx, report: report}
	if o.Token == "" {
		if o.PublicKey != "" {
			dc.add(chat.FindingOK, "HTTP interactions only (public key set, no bot token)", "")
		} else {
			dc.add(chat.FindingOK, "not configured", "")
		}
		return
	}
	var me struct {
		Username string `json:"username"`
		ID       string `json:"id"`
	}
	status, err := dc.get("users/@me", &me)
	switch {
	case err != nil:
		dc.add(chat.FindingFailed, "Discord did not answer: "+err.Error(), "check discord.api_url and the network")
		return
	case status == http.StatusUnauthorized:
		dc.add(chat.FindingFailed, "bot token refused (401)", "reset the bot token in the Developer Portal → Bot and set discord.bot_token")
		return
	case status != http.StatusOK:
		dc.add(chat.FindingFailed, fmt.Sprintf("users/@me answered HTTP %d", status), "check discord.api_url")
		return
	}
	dc.add(chat.FindingOK, "bot token accepted: "+me.Username, "")
	app := o.AppID
	if app == "" {
		app = me.ID
	}
	// With guild_ids, serve registers /clore in those guilds only: it is
	// expected there, not globally (where a leftover shows it twice).
	var paths []string
	for _, g := range o.GuildIDs {
		paths = append(paths, "applications/"+app+"/guilds/"+g+"/commands")
	}
	if len(paths) > 0 {
		dc.leftoverGlobal(app)
	} else {
		paths = []string{"applications/" + app + "/commands"}
	}
	for _, p := range paths {
		var cmds []commandName
		status, err := dc.get(p, &cmds)
		where := "globally"
		if strings.Contains(p, "/guilds/") {
			where = "in guild " + strings.Split(p, "/")[3]
		}
		switch {
		case err != nil || status != http.StatusOK:
			dc.add(chat.FindingWarning, fmt.Sprintf("could not list the commands registered %s (HTTP %d)", where, status), "check discord.application_id")
		case !slices.Contains(cmds, commandName{CommandName}):
			dc.add(chat.FindingWarning, "/clore is not registered "+where, "clorebot serve registers it at start; invite the bot with the applications.commands scope")
		default:
			dc.add(chat.FindingOK, "/clore is registered "+where, "")
		}
	}
}

// commandName is a registered application command, as far as the doctor
// reads it.
type commandName struct {
	Name string `json:"name"`
}

// doctorCheck is one run of Doctor.
type doctorCheck struct {
	o      DoctorOptions
	ctx    context.Context
	report func(chat.Finding)
}

func (dc doctorCheck) add(level, found, fix string) {
	dc.report(chat.Finding{Level: level, Check: "discord", Found: found, Fix: fix})
}

// leftoverGlobal warns about a global /clore beside the guild commands of
// guild_ids: members of those guilds see /clore twice.
func (dc doctorCheck) leftoverGlobal(app string) {
	var cmds []commandName
	status, err := dc.get("applications/"+app+"/commands", &cmds)
	if err == nil && status == http.StatusOK && slices.Contains(cmds, commandName{CommandName}) {
		dc.add(chat.FindingWarning, "/clore is also registered globally while discord.guild_ids is set: members see it twice",
			"remove the global command (clorebot registers in the guilds only)")
	}
}

// get GETs <api_url>api/v9/<path> as the bot and decodes a 200.
func (dc doctorCheck) get(path string, v any) (int, error) {
	ctx, cancel := context.WithTimeout(dc.ctx, dc.o.Timeout)
	defer cancel()
	base := strings.TrimSuffix(dc.o.APIURL, "/") + "/api/v9/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, errors.New("discord.api_url does not parse")
	}
	req.Header.Set("Authorization", "Bot "+dc.o.Token)
	req.Header.Set("User-Agent", "DiscordBot (https://github.com/clorebot/clorebot, 1) clorebot-doctor")
	resp, err := dc.o.HTTPClient.Do(req)
	if err != nil {
		return 0, errors.New(chat.TransportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
			return resp.StatusCode, errors.New("unreadable answer")
		}
	}
	return resp.StatusCode, nil
}
