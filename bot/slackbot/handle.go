package slackbot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// ackPayload is the immediate answer to a slash command, sent in its
// acknowledgement (Socket Mode) or as the HTTP response (HTTP mode).
type ackPayload struct {
	ResponseType string        `json:"response_type"`
	Text         string        `json:"text"`
	Blocks       []slack.Block `json:"blocks,omitempty"`
}

// payloadOf renders an instant answer for the acknowledgement: ephemeral
// unless the reply is meant for the channel.
func payloadOf(r commands.Reply) *ackPayload {
	rt := slack.ResponseTypeEphemeral
	if r.Visibility == commands.Public {
		rt = slack.ResponseTypeInChannel
	}
	return &ackPayload{ResponseType: rt, Text: FallbackText(r), Blocks: Blocks(r.Public())}
}

// ackCacheSize bounds the rendered acknowledgements kept; the cache starts
// afresh when it is full.
const ackCacheSize = 256

// ackCache keeps the JSON of acknowledgements that are the same for
// everyone who gets them — help, usage errors, refusals: plain text with no
// fields, buttons, job or private part — so that a burst of them is not
// rendered and marshalled once per command.
type ackCache struct {
	mu sync.Mutex
	m  map[ackKey]json.RawMessage
}

// ackKey is what an acknowledgement of a plain reply depends on.
type ackKey struct {
	status, title, text, usage string
	visibility                 commands.Visibility
	done, temporary            bool
}

// payload is r's acknowledgement as JSON.
func (c *ackCache) payload(r commands.Reply) (json.RawMessage, error) {
	if len(r.Fields) > 0 || len(r.Buttons) > 0 || r.Private != nil || r.JobID != "" {
		return json.Marshal(payloadOf(r))
	}
	key := ackKey{r.Status, r.Title, r.Text, r.Usage, r.Visibility, r.Done, r.Temporary}
	c.mu.Lock()
	raw, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return raw, nil
	}
	raw, err := json.Marshal(payloadOf(r))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= ackCacheSize {
		c.m = make(map[ackKey]json.RawMessage, ackCacheSize)
	}
	c.m[key] = raw
	c.mu.Unlock()
	return raw, nil
}

// command answers one slash command. It returns what goes in the
// acknowledgement — nil for an empty one — within the ack budget whatever
// the command layer does; anything that comes later (a job's progress
// message, a slow answer, private details) is delivered in the background.
// The command is handled, and its answer delivered, detached from ctx, the
// bot's lifetime (chat.Detach): once acknowledged, a shutdown does not
// drop it.
func (b *Bot) command(ctx context.Context, c slack.SlashCommand) any {
	if r := b.foreign(ctx, slashOrigin(c)); r != nil {
		return b.now(ctx, dest{}, *r)
	}
	d, req := commandRequest(c)
	return b.commandWithin(ctx, d, req, b.o.AckBudget)
}

// commandWithin is command, for the request req (parsed) of conversation
// d, with budget left of the ack budget (0: none, the answer follows
// through the response_url).
func (b *Bot) commandWithin(ctx context.Context, d dest, req commands.Request, budget time.Duration) any {
	hctx, cancel := chat.Detach(ctx, intakeDrain)
	ans := chat.Respond(hctx, b.o.Service, req, budget)
	if ans.Now != nil {
		cancel()
		return b.now(ctx, d, *ans.Now)
	}
	b.wg.Go(func() {
		defer cancel()
		select {
		case r := <-ans.Later:
			b.detached(ctx, func(ctx context.Context) { b.deliver(ctx, d, r) })
		case <-hctx.Done():
		}
	})
	return nil
}

// now is the acknowledgement of r, an answer that came within the ack
// budget; its private part, if any, follows in the background.
func (b *Bot) now(ctx context.Context, d dest, r commands.Reply) any {
	if p := r.Private; p != nil {
		b.wg.Go(func() { b.detached(ctx, func(ctx context.Context) { b.sendPrivate(ctx, d, *p) }) })
	}
	var then func()
	if r.Image != nil && d.Channel != "" {
		r = withImageNote(r)
		then = func() { b.wg.Go(func() { b.detached(ctx, func(ctx context.Context) { b.sendImage(ctx, d, r) }) }) }
	}
	raw, err := b.acks.payload(r)
	if err != nil {
		b.log.LogAttrs(ctx, slog.LevelError, "slack answer not rendered", slog.Any("error", err))
		return nil
	}
	if then != nil {
		return ackThen{payload: raw, then: then}
	}
	return raw
}

// ackThen is an acknowledgement with work to start once it is sent: the
// upload of the answer's chart (three calls) never delays the ack.
type ackThen struct {
	payload json.RawMessage
	then    func()
}

// sentAck unwraps an acknowledgement's payload for sending; call the
// function it returns once the acknowledgement is sent (or has failed).
func sentAck(p any) (payload any, then func()) {
	if a, ok := p.(ackThen); ok {
		return a.payload, a.then
	}
	return p, func() {}
}

// fromMemory is the acknowledgement of req, answered on the caller's
// goroutine, when the command layer answers it from memory alone
// (chat.MemoryAnswerer: help or a usage error); false for anything else,
// with nothing done. The answer is judged and made in one call, on the
// parse req carries.
func (b *Bot) fromMemory(ctx context.Context, d dest, req commands.Request) (any, bool) {
	m, ok := b.o.Service.(chat.MemoryAnswerer)
	if !ok {
		return nil, false
	}
	r, ok := m.AnswerFromMemory(context.WithoutCancel(ctx), req)
	if !ok {
		return nil, false
	}
	return b.now(ctx, d, r), true
}

// detached runs f, work already acknowledged, under chat.Detach(ctx).
func (b *Bot) detached(ctx context.Context, f func(context.Context)) {
	c, cancel := chat.Detach(ctx, intakeDrain)
	defer cancel()
	f(c)
}

// jobCommand handles a command that becomes a job and was acknowledged
// already (chat.AckAtOnce): the command layer stores the job, then its
// reply, the job's first progress or a refusal, is delivered on a goroutine
// of its own, so that the next acknowledged command is stored without
// waiting on Slack (chat.postMessage may sit out a 429's Retry-After).
// Both are detached from ctx, the bot's lifetime.
func (b *Bot) jobCommand(ctx context.Context, d dest, req commands.Request) {
	var r commands.Reply
	b.detached(ctx, func(hctx context.Context) { r = b.o.Service.Handle(hctx, req) })
	b.wg.Go(func() { b.detached(ctx, func(ctx context.Context) { b.deliver(ctx, d, r) }) })
}

// commandRequest is the conversation of a slash command and its Request,
// parsed (chat.CommandRequest): a command is parsed once, here.
func commandRequest(c slack.SlashCommand) (dest, commands.Request) {
	d := dest{Channel: c.ChannelID, User: c.UserID}.withResponseURL(c.ResponseURL, time.Now())
	o := chat.Origin{Platform: commands.PlatformSlack, UserID: c.UserID, UserName: c.UserName,
		Channel: c.ChannelID, ReplyTarget: d.encode()}
	return d, chat.CommandRequest(o, c.Text, commandKey(c))
}

// commandKey is the idempotency key of a slash command: its trigger_id,
// which a retry under a new envelope id (Slack's answer to a slow ack) or
// a new HTTP request carries too; without one, a hash of the command's own
// fields, response_url included (one per invocation).
func commandKey(c slack.SlashCommand) string {
	if c.TriggerID != "" {
		return c.TriggerID
	}
	h := sha256.New()
	for _, f := range []string{c.TeamID, c.EnterpriseID, c.APIAppID, c.ChannelID, c.UserID, c.Command, c.Text, c.ResponseURL} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return "payload-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// deliver shows a reply that did not go in the acknowledgement: a job's
// progress as its own public message, anything else through the
// response_url, private details only to the requester.
func (b *Bot) deliver(ctx context.Context, d dest, r commands.Reply) {
	if p := r.Private; p != nil {
		b.sendPrivate(ctx, d, *p)
	}
	if chat.Progress(r) {
		_, err := b.follow.Start(ctx, r.JobID, d.encode(), b.storedRef(ctx, r.JobID), r.Public())
		if err == nil || errors.Is(err, chat.ErrNoMessage) {
			return
		}
		b.log.LogAttrs(ctx, slog.LevelWarn, "slack progress message not posted; answering through the response_url",
			slog.String("job_id", r.JobID), slog.Any("error", err))
		r.Text += " (invite the bot to this channel to see the job's progress here)"
	}
	b.answer(ctx, d, r)
}

// storedRef is the message stored with job id, or "" (none yet, or no
// store to ask).
func (b *Bot) storedRef(ctx context.Context, id string) string {
	if b.o.Jobs == nil {
		return ""
	}
	ref, err := b.o.Jobs.JobReplyRef(ctx, id)
	if err != nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "slack: stored message of the job not read", slog.String("job_id", id), slog.Any("error", err))
		return ""
	}
	if _, _, ok := splitRef(ref); !ok {
		return ""
	}
	return ref
}

// answer sends r where the request came from: ephemeral to the requester,
// or public to the channel.
func (b *Bot) answer(ctx context.Context, d dest, r commands.Reply) {
	r = withImageNote(r)
	var err error
	switch {
	case chat.ForRequester(r):
		err = b.msgr.ephemeral(ctx, d, r)
	case d.ResponseURL != "":
		err = b.msgr.respond(ctx, d.ResponseURL, slack.ResponseTypeInChannel, r)
	default:
		err = b.msgr.thread(ctx, d.Channel, "", r)
	}
	if err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "slack answer not delivered", slog.String("status", r.Status), slog.Any("error", err))
	}
	if err == nil && r.Image != nil {
		b.sendImage(ctx, d, r)
	}
}

// withImageNote tells the reader of an answer for them alone where its
// chart goes (sendImage).
func withImageNote(r commands.Reply) commands.Reply {
	if r.Image != nil && chat.ForRequester(r) {
		r.Text = strings.TrimSpace(r.Text + " The chart is in your direct messages with the bot.")
	}
	return r
}

// sendImage shares a reply's chart after its text. Slack has no ephemeral
// files, so the chart of an answer for the requester alone goes to their
// direct conversation with the bot (the answer says so); a public answer's
// goes to its channel, or to the requester when the bot is not in the
// channel. A chart that cannot be shared is logged: the text answered.
func (b *Bot) sendImage(ctx context.Context, d dest, r commands.Reply) {
	img := *r.Image
	comment := r.Title
	var err error
	if !chat.ForRequester(r) {
		if err = b.msgr.upload(ctx, d.Channel, "", comment, img); err == nil || !permanent(err) || d.User == "" {
			b.imageSent(ctx, err)
			return
		}
	}
	if d.User != "" {
		err = b.msgr.uploadToUser(ctx, d.User, comment, img)
	}
	b.imageSent(ctx, err)
}

func (b *Bot) imageSent(ctx context.Context, err error) {
	if err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "slack chart not shared", slog.Any("error", err))
	}
}

func (b *Bot) sendPrivate(ctx context.Context, d dest, p commands.PrivatePart) {
	if err := b.msgr.private(ctx, d, p); err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelError, "slack private details not delivered", slog.String("user", d.User), slog.Any("error", err))
	}
}

// click handles a block_actions callback (already acknowledged, so
// detached from ctx, the bot's lifetime: a shutdown does not drop a
// Cancel): every button goes through the command layer, which checks who
// clicked. A job it starts takes over the message the button was on
// (Cancel: cancelling… → cancelled); a refusal goes to the clicker alone
// and changes nothing.
func (b *Bot) click(ctx context.Context, cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return
	}
	ctx, cancel := chat.Detach(ctx, intakeDrain)
	defer cancel()
	if r := b.foreign(ctx, clickOrigin(cb)); r != nil {
		b.refuseClick(ctx, cb, *r)
		return
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	d := dest{Channel: channel, User: cb.User.ID, TS: cb.Container.MessageTs,
		Ephemeral: cb.Container.IsEphemeral}.withResponseURL(cb.ResponseURL, time.Now())
	for _, a := range cb.ActionCallback.BlockActions {
		o := chat.Origin{Platform: commands.PlatformSlack, UserID: cb.User.ID, UserName: cb.User.Name,
			Channel: channel, ReplyTarget: d.encode()}
		r := b.o.Service.Handle(ctx, chat.ClickRequest(o, a.ActionID, a.Value, d.Channel+"/"+d.TS))
		b.afterClick(ctx, d, r)
	}
}

// refuseClick tells the clicker alone, through the click's response_url,
// why a click from outside the served workspace did nothing.
func (b *Bot) refuseClick(ctx context.Context, cb slack.InteractionCallback, r commands.Reply) {
	if cb.ResponseURL == "" {
		return
	}
	if err := b.msgr.respond(ctx, cb.ResponseURL, slack.ResponseTypeEphemeral, r); err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelInfo, "slack refusal not delivered", slog.Any("error", err))
	}
}

func (b *Bot) afterClick(ctx context.Context, d dest, r commands.Reply) {
	if p := r.Private; p != nil {
		b.sendPrivate(ctx, d, *p)
	}
	if !chat.Progress(r) {
		b.answer(ctx, d, r)
		return
	}
	if ref := d.messageRef(); ref != "" {
		_, err := b.follow.Adopt(ctx, r.JobID, ref, r.Public())
		if err != nil && !errors.Is(err, chat.ErrNoMessage) {
			b.log.LogAttrs(ctx, slog.LevelWarn, "slack message not updated", slog.String("job_id", r.JobID), slog.Any("error", err))
		}
		return
	}
	if d.Ephemeral && d.ResponseURL != "" {
		// The button was on the requester's ephemeral prompt: close it.
		done := commands.Reply{Status: commands.StatusOK, Text: "Confirmed; the progress follows in the channel.", Done: true}
		if err := b.msgr.respond(ctx, d.ResponseURL, slack.ResponseTypeEphemeral, done, slack.MsgOptionReplaceOriginal(d.ResponseURL)); err != nil {
			b.log.LogAttrs(ctx, slog.LevelInfo, "slack ephemeral prompt not replaced", slog.Any("error", err))
		}
	}
	d.ResponseURL = "" // the job's progress is a message of its own
	b.deliver(ctx, d, r)
}

// Notify implements commands.Notifier for Slack targets: a job's progress
// edits its one public message (posting it the first time), and the
// private part of a reply (connection details) goes to the requester alone.
func (b *Bot) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	if t.Platform != commands.PlatformSlack {
		return "", nil
	}
	d, err := decodeDest(t.ReplyTarget)
	if err != nil {
		return "", err
	}
	var errs []error
	if p := r.Private; p != nil {
		if err := b.msgr.private(ctx, d, *p); err != nil {
			errs = append(errs, err)
		}
	}
	known := t.Ref
	if known == "" {
		known = d.messageRef()
	}
	ref, err := b.follow.Show(ctx, r.JobID, t.ReplyTarget, known, r.Public())
	if img := r.Image; img != nil && err == nil && t.Ref == "" && d.Channel != "" {
		// A new post with a chart (the spend digest): the chart follows it
		// in its channel, once; edits of the message carry none.
		if err := b.msgr.upload(ctx, d.Channel, "", "", *img); err != nil {
			errs = append(errs, err)
		}
	}
	return ref, errors.Join(append(errs, err)...)
}
