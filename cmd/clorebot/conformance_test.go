package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/chat/chattest"
	"github.com/clorebot/clorebot/bot/chat/chattest/testdoor"
	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// testTreeDoors are the doors of the test tree, one line each: in tests,
// serve builds them too.
var testTreeDoors = []frontDoor{
	chatDoor(testdoor.Platform, testdoor.Build),
}

func init() { frontDoors = append(frontDoors, testTreeDoors...) }

// conformanceGPU is a model the sandbox's marketplace offers.
const conformanceGPU = "3090"

// appBackend is the command layer's side of a door served whole: the jobs
// in the database and the orders at the sandbox.
type appBackend struct{ app *App }

// Jobs counts the stored jobs, read from the database beside serve.
func (b appBackend) Jobs(t testing.TB) int {
	t.Helper()
	db := storagetest.OpenSQL(t, cmp.Or(b.app.cfg.Storage.URL.Reveal(), b.app.cfg.Storage.Path))
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ActiveOrders counts the orders running at the sandbox.
func (b appBackend) ActiveOrders(t testing.TB) int {
	t.Helper()
	live, err := b.app.clore.MyOrders(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return len(live)
}

// Every door serve builds that drives itself (chattest.Driver: the doors
// of the test tree) passes the conformance suite, served whole; users are
// "<platform>:owner", ":stranger" and ":viewer".
func TestSelfDrivingDoorsConform(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var renters, viewers []string
	for _, p := range doorPlatforms() {
		renters = append(renters, strconv.Quote(p+":owner"), strconv.Quote(p+":stranger"))
		viewers = append(viewers, strconv.Quote(p+":viewer"))
	}
	path := filepath.Join(dir, "clorebot.toml")
	writeConfig(t, path, sandboxConfig(t, dir)+fmt.Sprintf(`[policy]
renters = [%s]
viewers = [%s]
default_role = "none"
`, strings.Join(renters, ", "), strings.Join(viewers, ", ")))
	app := runServe(t, path, slog.New(slog.DiscardHandler), func(ctx context.Context, app *App) error {
		return errors.Join(app.svc.RefreshMarket(ctx), app.svc.RefreshOrders(ctx))
	})
	ran := 0
	for _, d := range app.doors {
		if drv, ok := d.(chattest.Driver); ok {
			ran++
			t.Run(d.Platform(), func(t *testing.T) { chattest.Run(t, drv, appBackend{app}, conformanceGPU) })
		}
	}
	if ran == 0 {
		t.Skip("no door of the test tree is wired into serve")
	}
}

// The Slack door passes the conformance suite through slack-go and the
// fake Slack: Socket Mode for commands and clicks, HTTP mode for a
// request past its window.
func TestSlackConforms(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("c9", 16)
	s := startSlackServe(t, secret, nil)
	s.waitConnected(t, 1)
	chattest.Run(t, &slackDriver{s: s, secret: secret, users: map[string]string{}}, appBackend{s.app}, conformanceGPU)
}

// slackDriver is chattest.Driver over the fake Slack.
type slackDriver struct {
	s      *slackApp
	secret string
	mu     sync.Mutex
	users  map[string]string // response_url path -> the user it answers
}

func (d *slackDriver) Users() (owner, stranger, viewer string) { return "UALICE", "UBOB", "UVERA" }

// send sends envelope (again: as a retry) and waits for its next ack.
func (d *slackDriver) send(t testing.TB, envelope, typ string, payload map[string]any, user, path string) {
	t.Helper()
	d.mu.Lock()
	d.users[path] = user
	d.mu.Unlock()
	acks := len(d.s.fake.Acks(envelope))
	if err := d.s.fake.Send(slacktest.Envelope(envelope, typ, payload, acks)); err != nil {
		t.Fatalf("send %s: %v", envelope, err)
	}
	if got := d.s.fake.WaitAcks(envelope, acks+1, chattest.Wait); len(got) <= acks {
		t.Fatalf("envelope %s not acknowledged", envelope)
	}
}

func (d *slackDriver) Command(t testing.TB, user, text, delivery string) {
	d.send(t, delivery, "slash_commands", d.s.fake.Slash(user, "C1", text, "trig-"+delivery), user, "/response/cmd-trig-"+delivery)
}

func (d *slackDriver) Click(t testing.TB, user string, m chattest.Message, actionID, delivery string) {
	d.send(t, delivery, "interactive", d.s.fake.Click(user, "C1", m.ID, actionID, actionID, "trig-"+delivery), user, "/response/act-trig-"+delivery)
}

// Late posts the command in HTTP mode signed 10 minutes ago: refused (401).
func (d *slackDriver) Late(t testing.TB, user, text, delivery string) {
	body := "team_id=T1&api_app_id=A1&user_id=" + user + "&user_name=u&channel_id=C1&command=%2Fclore&text=" +
		strings.ReplaceAll(text, " ", "+") + "&trigger_id=" + delivery + "&response_url=" + d.s.fake.ResponseURL(delivery)
	req := signSlack(d.secret, "/slack/commands", body, time.Now().Add(-10*time.Minute))
	if code, _ := req.post(t.(*testing.T), d.s.base, req.sig); code != http.StatusUnauthorized {
		t.Errorf("a command signed 10 minutes ago answered %d, want 401", code)
	}
}

func (d *slackDriver) Messages(testing.TB) []chattest.Message {
	var out []chattest.Message
	for _, m := range d.s.fake.Messages() {
		out = append(out, chattest.Message{ID: m.TS, Text: m.Text + string(m.Blocks), Edits: len(m.Versions) - 1})
	}
	for _, e := range d.s.fake.Ephemerals() {
		out = append(out, chattest.Message{To: e.User, Text: e.Text + string(e.Blocks)})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.s.fake.Responses() {
		m := chattest.Message{Text: fmt.Sprint(r.Body)}
		if r.Body["response_type"] != "in_channel" {
			m.To = d.users[r.Path]
		}
		out = append(out, m)
	}
	return out
}

// The Discord door passes the conformance suite through discordgo and the
// fake Discord's gateway.
func TestDiscordConforms(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	fake := fd.New(t, fd.Options{Token: token, GuildID: "4242"})
	path := writeDiscordConfig(t, t.TempDir(), fake, token, "guild_ids = [\"4242\"]\n",
		`renters = ["discord:1001", "discord:1002"]`+"\n"+`viewers = ["discord:1003"]`)
	app := runServe(t, path, slog.New(slog.DiscardHandler), func(ctx context.Context, app *App) error {
		return errors.Join(app.svc.RefreshMarket(ctx), app.svc.RefreshOrders(ctx))
	})
	fake.WaitFor(t, chattest.Wait, "READY", func() bool { return fake.Connected(1) })
	chattest.Run(t, &discordDriver{app: app, fake: fake, users: map[string]string{}}, appBackend{app}, conformanceGPU)
}

// discordDriver is chattest.Driver over the fake Discord.
type discordDriver struct {
	app   *App
	fake  *fd.Server
	mu    sync.Mutex
	users map[string]string // interaction token -> its user
}

func (d *discordDriver) Users() (owner, stranger, viewer string) { return "1001", "1002", "1003" }

// options turns the suite's "rent <gpu> [--hours H]" into /clore options.
func options(t testing.TB, text string) fd.Option {
	f := strings.Fields(text)
	if len(f) < 2 || f[0] != "rent" {
		t.Fatalf("discord driver: %q is not a rent", text)
	}
	opts := []fd.Option{fd.Str("gpu", f[1])}
	if len(f) == 4 && f[2] == "--hours" {
		h, _ := strconv.ParseFloat(f[3], 64)
		opts = append(opts, fd.Num("hours", h))
	}
	return fd.Sub("rent", opts...)
}

// interact dispatches i on the gateway (expected: its callback is taken)
// and waits for its first callback.
func (d *discordDriver) interact(t testing.TB, i fd.Interaction, user string, expect bool) {
	t.Helper()
	d.mu.Lock()
	d.users[i.Token] = user
	d.mu.Unlock()
	if expect {
		d.fake.Expect(i)
	}
	if err := d.fake.Dispatch("INTERACTION_CREATE", i); err != nil {
		t.Fatal(err)
	}
}

func (d *discordDriver) Command(t testing.TB, user, text, delivery string) {
	i := d.fake.Slash(delivery, "tok-"+delivery, fd.Who{UserID: user}, "clore", options(t, text))
	d.interact(t, i, user, true)
	d.fake.WaitFor(t, chattest.Wait, "the acknowledgement of "+delivery, func() bool { _, ok := d.fake.Callback(delivery); return ok })
}

var confirmID = regexp.MustCompile(`cancel-yes:[^"]+`)

// Click presses the button; a Cancel the user may act on asks first, and
// its Confirm is pressed.
func (d *discordDriver) Click(t testing.TB, user string, m chattest.Message, actionID, delivery string) {
	tok := "tok-" + delivery
	d.interact(t, d.fake.Click(delivery, tok, fd.Who{UserID: user}, actionID, m.ID, false), user, true)
	var yes string
	var prompt string
	d.fake.WaitFor(t, chattest.Wait, "an answer to the click", func() bool {
		for _, f := range d.fake.Followups(tok) {
			if id := confirmID.FindString(string(f.Body)); id != "" {
				yes, prompt = id, f.ID
				return true
			}
		}
		c, ok := d.fake.Callback(delivery)
		return ok && !strings.Contains(string(c.Body), `"type":6`)
	})
	if yes == "" {
		return
	}
	d.interact(t, d.fake.Click(delivery+"-yes", tok+"-yes", fd.Who{UserID: user}, yes, prompt, true), user, true)
	d.fake.WaitFor(t, chattest.Wait, "the confirm's acknowledgement", func() bool { _, ok := d.fake.Callback(delivery + "-yes"); return ok })
}

// Late dispatches the command unexpected: the fake refuses its
// acknowledgement (10062 Unknown interaction), as Discord does after 3 s.
func (d *discordDriver) Late(t testing.TB, user, text, delivery string) {
	i := d.fake.Slash(delivery, "tok-"+delivery, fd.Who{UserID: user}, "clore", options(t, text))
	d.interact(t, i, user, false)
	d.fake.WaitFor(t, chattest.Wait, "the refused acknowledgement", func() bool {
		return len(d.fake.Calls("/api/v9/interactions/"+delivery+"/")) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), chattest.Wait)
	defer cancel()
	if err := d.app.discord.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func (d *discordDriver) Messages(testing.TB) []chattest.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []chattest.Message
	for _, m := range d.fake.Messages("") {
		msg := chattest.Message{ID: m.ID, Text: string(m.Body), Edits: m.Edits}
		if m.Flags&64 != 0 {
			msg.To = d.users[m.Token]
		}
		out = append(out, msg)
	}
	return out
}
