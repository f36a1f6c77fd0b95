package discordbot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// errTooLate is a first answer given after the HTTP response was given up
// (its budget ran out): Discord has shown the user that the application did
// not respond.
var errTooLate = errors.New("discordbot: interaction answer came too late")

// staleAfter is the age (from the interaction id's snowflake timestamp) past
// which a job command is not even acknowledged: Discord accepts a first
// answer for 3 s; the extra second allows for clock skew, and between the
// two Discord's own answer to the callback decides.
const staleAfter = discordgo.InteractionDeadline + time.Second

// discordEpoch is the zero of snowflake timestamps (2015-01-01 UTC), in ms.
const discordEpoch = 1420070400000

// snowflakeTime is when Discord created the object whose id this is; false
// when id is not a snowflake.
func snowflakeTime(id string) (time.Time, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n>>22 == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(n>>22) + discordEpoch), true
}

// stale reports how old the interaction is when it is older than staleAfter.
func (b *Bot) stale(i *discordgo.Interaction) (time.Duration, bool) {
	at, ok := snowflakeTime(i.ID)
	if !ok {
		return 0, false
	}
	age := b.now().Sub(at)
	return age, age > staleAfter
}

// refusedAck reports whether a first answer failed because Discord (or the
// HTTP endpoint's budget) definitely refused it: 10062 Unknown interaction
// (older than 3 s, or never sent to this application), 40060 already
// acknowledged (by someone else), or too late for the HTTP response. The
// user then saw no acknowledgement from this process.
func refusedAck(err error) bool {
	if errors.Is(err, errTooLate) {
		return true
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		switch re.Message.Code {
		case discordgo.ErrCodeUnknownInteraction, discordgo.ErrCodeInteractionHasAlreadyBeenAcknowledged:
			return true
		}
	}
	return false
}

// ackLanded settles a deferral whose callback failed: true when Discord
// nevertheless holds it (the callback was applied and its answer lost: a 5xx,
// a cut connection), which the interaction's original response shows. A
// definite refusal, a missing original response, an update deferral (whose
// original is the clicked message, there either way) or a failed look all
// count as not landed: a job is never run unseen.
func (b *Bot) ackLanded(ctx context.Context, i *discordgo.Interaction, resp *discordgo.InteractionResponse, err error) bool {
	if refusedAck(err) || resp.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource || b.rest == nil {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, gerr := b.rest.InteractionResponse(i, discordgo.WithContext(cctx), discordgo.WithRestRetries(0))
	if gerr == nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "discord deferral failed yet is shown; running the command",
			slog.String("interaction_id", i.ID), slog.Any("error", b.redact(err, i.Token)))
		return true
	}
	var re *discordgo.RESTError
	if !errors.As(gerr, &re) || re.Response == nil || re.Response.StatusCode != http.StatusNotFound {
		// Unknown: perhaps the user sees "thinking…". Tell them, if the
		// response exists, that nothing was done.
		content := "Not run: clorebot could not confirm that Discord received this command, so it did nothing. Run it again."
		_, _ = b.rest.InteractionResponseEdit(i, &discordgo.WebhookEdit{Content: &content}, discordgo.WithContext(cctx),
			discordgo.WithRestRetries(0))
	}
	return false
}

// refuse logs a job command that is not run because its interaction was not
// acknowledged: nothing is stored, nothing rented. The user saw Discord's
// "The application did not respond" (or nothing) and may run it again.
func (b *Bot) refuse(ctx context.Context, i *discordgo.Interaction, what, why string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.String("interaction_id", i.ID), slog.String("command", what),
		slog.String("reason", why)}, attrs...)
	b.log.LogAttrs(ctx, slog.LevelWarn, "discord job command not run: its interaction was not acknowledged", attrs...)
}

// tellNotRun tells the invoker by DM that their job command was not run, so
// that nobody wonders whether it rented: unless someone else answered the
// interaction (40060: that answer stands), and when a bot token allows DMs.
func (b *Bot) tellNotRun(ctx context.Context, i *discordgo.Interaction, what string, err error) {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil && re.Message.Code == discordgo.ErrCodeInteractionHasAlreadyBeenAcknowledged {
		return
	}
	user, _, _ := invoker(i)
	if user == "" || b.o.Token == "" {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dm, err := b.rest.UserChannelCreate(user, discordgo.WithContext(cctx))
	if err == nil {
		_, err = b.rest.ChannelMessageSend(dm.ID, "Your "+what+" was not run: Discord did not take clorebot's answer in time "+
			"(it showed \"The application did not respond\"). Nothing was done; run it again.", discordgo.WithContext(cctx))
	}
	b.report(ctx, i, "not-run DM", err)
}

// jobWord names a job request for the log and the user: its command (from
// the parse it carries) or the kind of its button, never its arguments.
func jobWord(req commands.Request) string {
	if req.Action != nil {
		kind, _, _ := strings.Cut(req.Action.ID, ":")
		return kind + " click"
	}
	if cmd, err := req.Parsed(); err == nil {
		return "/clore " + cmd.Name
	}
	return "/clore"
}
