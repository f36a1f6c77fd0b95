package commands_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// fakeRoles is a RoleSource: the current roles per identity, or an error.
type fakeRoles struct {
	mu     sync.Mutex
	roles  map[string][]string
	err    error
	asked  []string // "user@where" per call
	during func()   // runs inside the first call, once
}

func (f *fakeRoles) CurrentRoles(_ context.Context, user, where string) ([]string, error) {
	f.mu.Lock()
	f.asked = append(f.asked, user+"@"+where)
	during := f.during
	f.during = nil
	roles, err := f.roles[user], f.err
	f.mu.Unlock()
	if during != nil {
		during()
	}
	return roles, err
}

func (f *fakeRoles) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// discordWatch sets an auto-rent watch as discord:5, a member of the renter
// role 7, from guild G, at a target the cheapest RTX 4090 meets unless
// target says otherwise.
func discordWatch(t *testing.T, h *harness, svc *commands.Service, key string, target float64) {
	t.Helper()
	if target == 0 {
		target = h.market(t).cheapest("RTX 4090").OnDemandUSDPerHour * 1.01
	}
	r := svc.Handle(context.Background(), commands.Request{Platform: commands.PlatformDiscord, User: "discord:5",
		Roles: []string{"discord-role:7"}, Channel: "G/C", IdempotencyKey: "discord:cmd:" + key,
		Text: fmt.Sprintf("watch 4090 %.4f --auto-rent", target)})
	if r.Status != commands.StatusOK {
		t.Fatalf("watch by a member of a renter role: %+v", r)
	}
}

// An auto-rent watch set by a member of a renter Discord role rents, when
// it triggers, only if the member still has a renter role then: the
// owner's front door is asked for the current roles, since no interaction
// brings them when a watch triggers. A role
// removed, a member gone from the guild (404: no roles), a lookup that
// fails and a platform with no role source all refuse: the watch ends
// refused, told once, with no job and no order.
func TestAutoRentChecksTheOwnersCurrentDiscordRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		roles   []string
		err     error
		noSrc   bool
		rents   bool
		refusal string
	}{
		{name: "role still held", roles: []string{"discord-role:3", "discord-role:7"}, rents: true},
		{name: "role removed", roles: []string{"discord-role:3"}, refusal: "renter role"},
		{name: "left the guild", roles: nil, refusal: "renter role"},
		{name: "lookup fails", err: errors.New("discord: 502 Bad Gateway"), refusal: "could not be checked"},
		{name: "no role source", noSrc: true, refusal: "cannot check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newSandboxHarness(t)
			h.policy.Renters = append(h.policy.Renters, "discord-role:7")
			ctx := context.Background()
			src := &fakeRoles{roles: map[string][]string{"discord:5": tc.roles}, err: tc.err}
			svc := h.service(func(o *commands.Options) {
				if !tc.noSrc {
					o.RoleSources = map[string]commands.RoleSource{commands.PlatformDiscord: src}
				}
			})
			discordWatch(t, h, svc, "w1", 0)
			tick(t, svc)
			w := h.watches(t)[0]
			if tc.noSrc {
				if n := len(src.calls()); n != 0 {
					t.Fatalf("%d lookups", n)
				}
			} else if got := src.calls(); len(got) != 1 || got[0] != "discord:5@G/C" {
				t.Fatalf("lookups %v, want one for discord:5 in G/C", got)
			}
			if tc.rents {
				if w.State != commands.WatchTriggered || w.JobID == "" {
					t.Fatalf("watch of a member still in the role: %+v", w)
				}
				job, err := svc.RunJob(ctx, w.JobID)
				if err != nil || job.State != commands.JobSucceeded || job.RequestedBy != "discord:5" {
					t.Fatalf("the watch's rent: %+v, %v", job, err)
				}
				if n := len(h.cloreOrders(t)); n != 1 {
					t.Fatalf("%d orders, want 1", n)
				}
				return
			}
			if w.State != commands.WatchRefused || w.JobID != "" || w.Triggers != 1 || !strings.Contains(w.Error, tc.refusal) {
				t.Fatalf("watch after the trigger: %+v; want refused saying %q", w, tc.refusal)
			}
			if strings.Contains(w.Error, "502") {
				t.Fatalf("the refusal shows the lookup's error: %q", w.Error)
			}
			for range 3 {
				tick(t, svc)
			}
			if jobs, err := h.store.ResumableJobs(ctx, time.Now().Add(time.Hour)); err != nil || len(jobs) != 0 {
				t.Fatalf("jobs %+v, %v; want none", jobs, err)
			}
			if n := len(h.cloreOrders(t)); n != 0 {
				t.Fatalf("%d orders, want none", n)
			}
			if evs := h.eventsOf(t, "watch.triggered"); len(evs) != 1 || evs[0]["watch_state"] != commands.WatchRefused {
				t.Fatalf("watch.triggered: %v", evs)
			}
			if n := len(src.calls()); n > 1 {
				t.Fatalf("%d lookups for one refused watch", n)
			}
		})
	}
}

// Only a triggering auto-rent asks for roles: watches that do not trigger,
// alerts, and owners who are renters by identity ask nothing; a watch
// following its running rent asks nothing either.
func TestOnlyTriggeringAutoRentsAskForRoles(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	h.policy.Renters = append(h.policy.Renters, "discord-role:7", "discord:9")
	ctx := context.Background()
	src := &fakeRoles{roles: map[string][]string{"discord:5": {"discord-role:7"}}}
	svc := h.service(func(o *commands.Options) {
		o.RoleSources = map[string]commands.RoleSource{commands.PlatformDiscord: src}
	})
	for i := range 40 {
		discordWatch(t, h, svc, fmt.Sprintf("low%d", i), 0.01) // never met
	}
	target := h.market(t).cheapest("RTX 4090").OnDemandUSDPerHour * 1.01
	for _, w := range []struct{ user, flags string }{
		{"discord:5", ""},             // an alert by a member of the role
		{"discord:9", " --auto-rent"}, // an auto-rent by a renter by identity
	} {
		text := fmt.Sprintf("watch 4090 %.4f%s", target, w.flags)
		r := svc.Handle(ctx, commands.Request{Platform: commands.PlatformDiscord, User: w.user,
			Roles: []string{"discord-role:7"}, Channel: "G/C", IdempotencyKey: "k:" + w.user, Text: text})
		if r.Status != commands.StatusOK {
			t.Fatalf("%s %q: %+v", w.user, text, r)
		}
	}
	tick(t, svc)
	if n := len(src.calls()); n != 0 {
		t.Fatalf("%d lookups for watches that need none", n)
	}
	discordWatch(t, h, svc, "met", 0)
	tick(t, svc)
	tick(t, svc)
	if got := src.calls(); len(got) != 1 {
		t.Fatalf("lookups %v, want one (the trigger)", got)
	}
}

// The lookup is made with no lock held: a tick that runs while another
// tick waits on the front door completes, and the two ticks rent once.
func TestRoleLookupHoldsNoLock(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	h.policy.Renters = append(h.policy.Renters, "discord-role:7")
	src := &fakeRoles{roles: map[string][]string{"discord:5": {"discord-role:7"}}}
	svc := h.service(func(o *commands.Options) {
		o.RoleSources = map[string]commands.RoleSource{commands.PlatformDiscord: src}
	})
	done := make(chan error, 1)
	src.during = func() {
		go func() { done <- svc.Tick(context.Background()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the inner tick: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("a tick blocked while another one asked for roles: a lock is held across the lookup")
		}
	}
	discordWatch(t, h, svc, "w1", 0)
	tick(t, svc)
	w := h.watches(t)[0]
	if w.State != commands.WatchTriggered || w.JobID == "" || w.Triggers != 1 {
		t.Fatalf("watch after two ticks: %+v", w)
	}
	if jobs, err := h.store.ResumableJobs(context.Background(), time.Now().Add(time.Hour)); err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %+v, %v; want one", jobs, err)
	}
}

// A tick stopped (shutdown) while it waits on the front door refuses
// nothing: the watch stays armed for the next run.
func TestRoleLookupCancelledRefusesNothing(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	h.policy.Renters = append(h.policy.Renters, "discord-role:7")
	ctx, cancel := context.WithCancel(context.Background())
	src := &fakeRoles{err: context.Canceled, during: cancel}
	svc := h.service(func(o *commands.Options) {
		o.RoleSources = map[string]commands.RoleSource{commands.PlatformDiscord: src}
	})
	discordWatch(t, h, svc, "w1", 0)
	if err := svc.EvaluateWatches(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("tick: %v", err)
	}
	if w := h.watches(t)[0]; w.State != commands.WatchActive || w.Triggers != 0 {
		t.Fatalf("watch after a cancelled tick: %+v", w)
	}
}
