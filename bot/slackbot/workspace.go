package slackbot

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// Workspace binding (DESIGN.md §4, slack.team_id): the bot serves one Slack
// workspace — the configured team, else the bot token's own team as
// auth.test reports it at start — and, once known, only its own app
// (bots.info of the token's bot) and Enterprise Grid org. A slash command or
// click from anywhere else is refused, saying which workspace is served, and
// never reaches the command layer.

// workspaceWait bounds how long a request that came before the workspace
// was learned waits for it: Slack allows 3 s for the acknowledgement.
const workspaceWait = time.Second

// workspace is who the bot serves.
type workspace struct {
	Team, TeamName string
	// Enterprise is the Enterprise Grid org ("" for none); checked only
	// when orgKnown (auth.test answered).
	Enterprise string
	orgKnown   bool
	// App is the app's id ("" when bots.info did not tell: not checked).
	App string
}

// served describes the workspace for a refusal: "acme (T1)" or "T1".
func (w workspace) served() string {
	if w.TeamName != "" {
		return w.TeamName + " (" + w.Team + ")"
	}
	return w.Team
}

// binding holds the served workspace once known; known closes then.
type binding struct {
	mu    sync.Mutex
	ws    workspace
	known chan struct{}
	once  sync.Once
}

func newBinding(team string) *binding {
	b := &binding{known: make(chan struct{})}
	if team != "" {
		b.ws.Team = team
	}
	return b
}

// set records what was learned and marks the workspace known.
func (bd *binding) set(ws workspace) {
	bd.mu.Lock()
	bd.ws = ws
	bd.mu.Unlock()
	bd.once.Do(func() { close(bd.known) })
}

// get returns the workspace as far as it is known: the team alone while
// only configured, nothing while neither configured nor learned.
func (bd *binding) get() workspace {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return bd.ws
}

// learned reports whether auth.test has answered.
func (bd *binding) learned() bool {
	select {
	case <-bd.known:
		return true
	default:
		return false
	}
}

// learnWorkspace asks Slack who the bot token belongs to (auth.test, then
// bots.info for the app id), retrying with backoff until it answers or ctx
// ends. A configured team_id wins over the token's; a mismatch is logged.
func (b *Bot) learnWorkspace(ctx context.Context) {
	delay := b.o.MinBackoff
	// The first attempt outlives a shutdown that starts meanwhile (for its
	// 10 s at most): a request acknowledged meanwhile waits for it.
	actx := context.WithoutCancel(ctx)
	for {
		err := b.learnOnce(actx)
		actx = ctx
		if err == nil || ctx.Err() != nil {
			return
		}
		b.log.LogAttrs(ctx, slog.LevelError, "slack auth.test failed; requests are refused until the workspace is known",
			slog.Any("error", err), slog.Duration("retry_in", delay))
		if chat.Sleep(ctx, delay) != nil {
			return
		}
		delay = min(delay*2, b.o.MaxBackoff)
	}
}

func (b *Bot) learnOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	at, err := b.api.AuthTestContext(cctx)
	if err != nil {
		return fmt.Errorf("slackbot: auth.test: %w", err)
	}
	ws := workspace{Team: at.TeamID, TeamName: at.Team, Enterprise: at.EnterpriseID, orgKnown: true}
	if t := b.o.TeamID; t != "" && t != at.TeamID {
		b.log.LogAttrs(ctx, slog.LevelError, "slack.team_id is not the bot token's workspace; serving slack.team_id",
			slog.String("team_id", t), slog.String("token_team_id", at.TeamID))
		ws = workspace{Team: t, orgKnown: false}
	}
	if at.BotID != "" {
		bot, err := b.api.GetBotInfoContext(cctx, slack.GetBotInfoParameters{Bot: at.BotID})
		if err == nil {
			ws.App = bot.AppID
		} else {
			b.log.LogAttrs(ctx, slog.LevelInfo, "slack bots.info failed; requests are not checked against the app id",
				slog.Any("error", err))
		}
	}
	b.bind.set(ws)
	b.log.LogAttrs(ctx, slog.LevelInfo, "slack workspace bound", slog.String("team_id", ws.Team),
		slog.String("enterprise_id", ws.Enterprise), slog.String("app_id", ws.App))
	return nil
}

// origin is where a slash command or click says it comes from.
type origin struct{ team, enterprise, app string }

// foreign returns the refusal of a request from o, or nil when the bot
// serves it. A request that comes before the workspace is known waits for
// it (briefly, with ctx) when no team is configured.
func (b *Bot) foreign(ctx context.Context, o origin) *commands.Reply {
	ws := b.bind.get()
	if ws.Team == "" {
		t := time.NewTimer(workspaceWait)
		select {
		case <-b.bind.known:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		ws = b.bind.get()
	}
	if ws.Team == "" {
		return &commands.Reply{Status: commands.StatusError, Visibility: commands.Ephemeral, Done: true, Temporary: true,
			Text: "clorebot is starting and does not know its Slack workspace yet; try again in a moment."}
	}
	why := ""
	switch {
	case o.team != ws.Team:
		why = "workspace " + orNone(o.team)
	case ws.orgKnown && o.enterprise != ws.Enterprise:
		why = "organisation " + orNone(o.enterprise)
	case ws.App != "" && o.app != ws.App:
		why = "app " + orNone(o.app)
	default:
		return nil
	}
	b.log.LogAttrs(ctx, slog.LevelInfo, "slack request from outside the served workspace refused",
		slog.String("team_id", o.team), slog.String("enterprise_id", o.enterprise), slog.String("api_app_id", o.app),
		slog.String("served_team_id", ws.Team))
	return &commands.Reply{Status: commands.StatusDenied, Visibility: commands.Ephemeral, Done: true,
		Text: "This clorebot serves only the Slack workspace " + ws.served() + "; this request came from " + why +
			". Nothing was done."}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func slashOrigin(c slack.SlashCommand) origin {
	return origin{team: c.TeamID, enterprise: c.EnterpriseID, app: c.APIAppID}
}

func clickOrigin(cb slack.InteractionCallback) origin {
	return origin{team: cb.Team.ID, enterprise: cb.Enterprise.ID, app: cb.APIAppID}
}
