package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

func TestPolicyTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy func(*commands.Policy)
		market func(*sandbox.Options) // the sandbox's market, if not the harness's small one
		user   string
		text   string
		status string
		want   string // in the reply text
	}{
		{name: "viewer may look at the market", user: "slack:VERA", text: "market 3090", status: commands.StatusOK},
		{name: "viewer may not rent", user: "slack:VERA", text: "rent 3090", status: commands.StatusDenied, want: "renter role"},
		{name: "stranger gets the default role", user: "discord:999", text: "rent 3090", status: commands.StatusDenied, want: "viewer"},
		{name: "default role none refuses everything", user: "discord:999", text: "help", status: commands.StatusDenied,
			policy: func(p *commands.Policy) { p.DefaultRole = commands.RoleNone }},
		{name: "cli is admin by default", user: "cli:ops", text: "rent 3090", status: commands.StatusQueued},
		{name: "cli follows the lists once they name cli", user: "cli:ops", text: "rent 3090", status: commands.StatusDenied,
			policy: func(p *commands.Policy) { p.Admins = append(p.Admins, "cli:root") }},
		{name: "webhook key with renter role", user: "webhook:zapier", text: "rent 3090", status: commands.StatusQueued},
		{name: "renter may rent", user: "slack:ALICE", text: "rent 3090", status: commands.StatusQueued},
		{name: "max price above the cap", user: "slack:ALICE", text: "rent 3090 --max-price 9", status: commands.StatusDenied, want: "cap"},
		{name: "cap leaves no offer", user: "slack:ALICE", text: "rent h100", status: commands.StatusError, want: "No free",
			policy: func(p *commands.Policy) { p.MaxPricePerHour = 0.5 }, market: fullMarket}, // the small market has no H100
		{name: "team spend limit", user: "slack:ALICE", text: "rent 3090", status: commands.StatusDenied, want: "spend",
			policy: func(p *commands.Policy) { p.MaxHourlySpend = 0.01 }},
		{name: "hours above maximum", user: "slack:ALICE", text: "rent 3090 --hours 500", status: commands.StatusError, want: "maximum"},
		{name: "confirm above threshold", user: "slack:ALICE", text: "rent 4090 8", status: commands.StatusConfirm, want: "confirmation",
			policy: func(p *commands.Policy) { p.MaxPricePerHour = 5 }},
		{name: "unknown gpu names the query", user: "slack:ALICE", text: "rent rtx 4009", status: commands.StatusError, want: "4009"},
		{name: "bad input shows usage", user: "slack:ALICE", text: "rent 3090 --max-price -1", status: commands.StatusError},
		{name: "auto-rent watch above cap", user: "slack:ALICE", text: "watch 3090 9 --auto-rent", status: commands.StatusDenied, want: "cap"},
		{name: "watch create", user: "slack:ALICE", text: "watch 3090 0.2", status: commands.StatusOK, want: "RTX 3090"},
		{name: "viewer may not watch", user: "slack:VERA", text: "watch 3090 0.2", status: commands.StatusDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*sandbox.Options)
			if tt.market != nil {
				opts = append(opts, tt.market)
			}
			h := newHarness(t, opts...)
			if tt.policy != nil {
				tt.policy(&h.policy)
			}
			r := h.service().Handle(context.Background(), req(tt.user, tt.text))
			if r.Status != tt.status || !strings.Contains(r.Text+r.Title, tt.want) {
				t.Fatalf("reply = %+v; want status %s with %q", r, tt.status, tt.want)
			}
			if r.Status == commands.StatusError && strings.Contains(tt.text, "-1") && r.Usage == "" {
				t.Error("a bad command gets no usage line")
			}
			if r.Status != commands.StatusQueued && r.Status != commands.StatusOK {
				if orders := h.cloreOrders(t); len(orders) != 0 {
					t.Errorf("a refused command rented: %+v", orders)
				}
			}
			audit, err := h.store.ListAudit(context.Background(), commands.AuditFilter{})
			if err != nil || len(audit) != 1 || audit[0].Actor != tt.user || audit[0].Outcome != r.Status {
				t.Errorf("audit = %+v, %v", audit, err)
			}
		})
	}
}

func TestGuardrailsCountActiveOrders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders = 1
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
	if job, err := svc.RunJob(ctx, r.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("first rent: %+v %v", job, err)
	}
	if r := svc.Handle(ctx, req("slack:ALICE", "rent 3090")); r.Status != commands.StatusDenied || !strings.Contains(r.Text, "active orders") {
		t.Fatalf("second rent = %+v", r)
	}
	if r := svc.Handle(ctx, req("slack:BOB", "rent 3090")); r.Status != commands.StatusQueued {
		t.Fatalf("bob's rent = %+v", r)
	}
}

func TestConfirmButtonRechecksWhoClicks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.ConfirmAbove = 0.01
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
	if r.Status != commands.StatusConfirm || len(r.Buttons) != 1 || r.Buttons[0].Confirm == "" {
		t.Fatalf("reply = %+v", r)
	}
	click := func(user string) commands.Reply {
		q := req(user, "")
		q.Action = &commands.Action{ID: r.Buttons[0].ActionID, Value: r.Buttons[0].Value}
		return svc.Handle(ctx, q)
	}
	if got := click("slack:BOB"); got.Status != commands.StatusDenied {
		t.Fatalf("bob confirming alice's rent = %+v", got)
	}
	if len(h.cloreOrders(t)) != 0 {
		t.Fatal("rented before confirmation")
	}
	got := click("slack:ALICE")
	if got.Status != commands.StatusQueued {
		t.Fatalf("alice confirming = %+v", got)
	}
	if job, err := svc.RunJob(ctx, got.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v %v", job, err)
	}
	if again := click("slack:ALICE"); again.Status != commands.StatusOK || !strings.Contains(again.Text, "already") {
		t.Fatalf("second click = %+v", again)
	}
	if n := len(h.cloreOrders(t)); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

// Orders already on record count against the hourly and team limits.
func TestGuardrailsOrdersPerHourAndTeam(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy func(*commands.Policy)
		user   string
		want   string
	}{
		{"orders per hour per user", func(p *commands.Policy) { p.MaxOrdersPerHour = 2; p.MaxActiveOrders = 10 }, "slack:ALICE", "last hour"},
		{"team active orders", func(p *commands.Policy) { p.MaxTeamActiveOrders = 2; p.MaxActiveOrders = 10 }, "slack:BOB", "the team has 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tt.policy(&h.policy)
			for i := range 2 {
				// Alice's rents of the last hour, ended, and their orders, running.
				job := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("earlier-", i), State: commands.JobSucceeded,
					RequestedBy: "slack:ALICE"}
				if _, _, err := h.store.CreateJob(context.Background(), job); err != nil {
					t.Fatal(err)
				}
				id := int64(100 + i)
				o := commands.Order{CloreOrderID: &id, ServerID: id, GPUModel: "RTX 3090", GPUCount: 1, USDPerHour: 0.2,
					RequestedBy: "slack:ALICE", State: commands.OrderRunning}
				if err := h.store.CreateOrder(context.Background(), &o); err != nil {
					t.Fatal(err)
				}
			}
			r := h.service().Handle(context.Background(), req(tt.user, "rent 3090"))
			if r.Status != commands.StatusDenied || !strings.Contains(r.Text, tt.want) {
				t.Fatalf("reply = %+v", r)
			}
		})
	}
}

func TestPolicyPlatformRoles(t *testing.T) {
	p := commands.Policy{Admins: []string{"discord-role:1"}, Renters: []string{"discord-role:2", "discord:9"}, DefaultRole: commands.RoleViewer}
	tests := []struct {
		name  string
		id    string
		roles []string
		want  commands.Role
	}{
		{"no roles", "discord:5", nil, commands.RoleViewer},
		{"unlisted role", "discord:5", []string{"discord-role:3"}, commands.RoleViewer},
		{"renter role", "discord:5", []string{"discord-role:3", "discord-role:2"}, commands.RoleRenter},
		{"admin role wins", "discord:9", []string{"discord-role:2", "discord-role:1"}, commands.RoleAdmin},
		{"identity stronger than roles", "discord:9", []string{"discord-role:3"}, commands.RoleRenter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Role(tt.id, tt.roles...); got != tt.want {
				t.Errorf("Role(%q, %v) = %v, want %v", tt.id, tt.roles, got, tt.want)
			}
		})
	}
}
