package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/commands"
)

// Review R7: a Discord rent whose deferral Discord refuses (10062 Unknown
// interaction: the interaction reached the bot after Discord's 3 s — a
// gateway RESUME replays the INTERACTION_CREATEs missed while the socket
// was down, or a delayed event queue) must not be turned into a job: Discord
// has already shown the user "The application did not respond"; they type
// the rent again, and both would rent. Served whole, with the fake Discord.
func TestDiscordRentWhoseAckIsRefusedDoesNotRent(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := fd.New(t, fd.Options{Token: token, GuildID: "4242"})
	configPath := writeDiscordConfig(t, t.TempDir(), fake, token, interactionsConfig(pub), `renters = ["discord:1001"]`)
	refused := make(chan struct{})
	app := runServe(t, configPath, slog.New(&refusalSignal{id: "late1", refused: refused}), nil)
	fake.WaitFor(t, 10*time.Second, "READY", func() bool { return fake.Connected(1) })

	model := offeredGPU(t, fake, "1001")
	// Dispatched without Expect: the fake answers its callback 10062
	// Unknown interaction, as Discord does once the 3 s are over.
	late := fake.Slash("late1", "latetok1", fd.Who{UserID: "1001"}, "clore", fd.Sub("rent", fd.Str("gpu", model)))
	if err := fake.Dispatch("INTERACTION_CREATE", late); err != nil {
		t.Fatal(err)
	}
	// The refusal is logged just before the interaction's handler returns;
	// once the bot's interaction work is over, no job can come of it.
	select {
	case <-refused:
	case <-time.After(10 * time.Second):
		orders, _ := app.store.ListOrders(context.Background(), commands.OrderFilter{})
		t.Fatalf("the rent's acknowledgement failed (Discord: Unknown interaction), and no refusal was logged within 10 s (%d order(s) so far)", len(orders))
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.discord.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	orders, err := app.store.ListOrders(context.Background(), commands.OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) > 0 {
		t.Fatalf("the rent's acknowledgement failed (Discord: Unknown interaction; the user saw \"The application did not respond\" and will retry), yet it rented: %d order(s), first #%d %s",
			len(orders), *orders[0].CloreOrderID, orders[0].State)
	}
}

// refusalSignal is a log handler that closes refused on the warning that a
// job command of interaction id was not run.
type refusalSignal struct {
	id      string
	refused chan struct{}
	once    sync.Once
}

func (h *refusalSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *refusalSignal) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *refusalSignal) WithGroup(string) slog.Handler            { return h }
func (h *refusalSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "job command not run") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "interaction_id" && a.Value.String() == h.id {
			h.once.Do(func() { close(h.refused) })
		}
		return true
	})
	return nil
}
