package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
)

// BenchmarkMarket summarises a 2,000-server snapshot per model (the work of
// `market` once the snapshot is cached).
func BenchmarkMarket(b *testing.B) {
	h := newHarness(b)
	servers, err := h.client.Marketplace(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	offers := clore.Offers(servers)
	b.ReportAllocs()
	for b.Loop() {
		if sums := commands.Summarize(offers, 0.9); len(sums) < 20 {
			b.Fatal(len(sums))
		}
	}
}

// BenchmarkMarketCommand is the whole `market` command on a cached snapshot:
// parse, policy, summary, reply, audit row.
func BenchmarkMarketCommand(b *testing.B) {
	h := newHarness(b)
	svc := h.service()
	ctx := context.Background()
	svc.Handle(ctx, req("slack:VERA", "market")) // warm the snapshot
	b.ReportAllocs()
	for b.Loop() {
		if r := svc.Handle(ctx, req("slack:VERA", "market")); r.Status != commands.StatusOK {
			b.Fatal(r)
		}
	}
}

// BenchmarkParsePolicyRent is parse + role check of a typical rent.
func BenchmarkParsePolicyRent(b *testing.B) {
	p := testPolicy()
	b.ReportAllocs()
	for b.Loop() {
		cmd, err := commands.Parse(`rent rtx 4090 2 --max-price 0.45 --hours 6 --image "cloreai/ubuntu22.04-cuda-12.4" --min-reliability 0.95`)
		if err != nil {
			b.Fatal(err)
		}
		if p.Role("slack:ALICE") < commands.RoleRenter || cmd.Rent.Count != 2 {
			b.Fatal("policy")
		}
	}
}

// BenchmarkHandleHelp is the command layer's part of a Slack help
// acknowledgement: parse, policy, the answer (written once) and the audit
// row queued for the background writer.
func BenchmarkHandleHelp(b *testing.B) {
	h := newHarness(b)
	svc := commands.New(commands.Options{Store: h.store, Clore: h.client, Policy: h.policy})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = svc.Run(ctx) }()
	req := commands.Request{Platform: commands.PlatformSlack, User: "slack:ALICE", Channel: "C1", Text: "help"}
	for !svc.AnswersFromMemory(req) {
		time.Sleep(time.Millisecond) // the audit writer starts with Run
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := svc.Handle(ctx, req); r.Status != commands.StatusOK {
			b.Fatal(r)
		}
	}
	_ = svc.FlushAudit(ctx)
}
