package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// A server is held by one rent at a time: another's hold is refused while
// the holder runs under a live lease, and once the holder's create_order
// took the server, by a rent that chose it from an older snapshot; a dead
// lease's hold and an older take give way. Ending a hold as TookNothing
// frees the server.
func TestServerHolds(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	now := clock.Now()
	a := createJob(t, s, newJob("hold-a"))
	b := createJob(t, s, newJob("hold-b"))
	claimJob(t, s, a.ID, "wa", now)
	claimJob(t, s, b.ID, "wb", now)
	save := func(j commands.Job, owner string, u commands.JobUpdate) error {
		j.State, u.Job = commands.JobRunning, j
		return s.SaveJob(ctx, owner, &u)
	}
	hold := func(since time.Time) *commands.ServerClaim {
		return &commands.ServerClaim{ServerID: 7, Currency: "USD-Blockchain", PerHour: 0.5, Since: since}
	}
	if err := save(a, "wa", commands.JobUpdate{Hold: hold(now)}); err != nil {
		t.Fatal(err)
	}
	if err := save(b, "wb", commands.JobUpdate{Hold: hold(now)}); !errors.Is(err, commands.ErrHeld) {
		t.Fatalf("second hold = %v, want ErrHeld", err)
	}
	clock.Advance(time.Second)
	if err := save(a, "wa", commands.JobUpdate{Took: commands.TookOurs}); err != nil {
		t.Fatal(err)
	}
	claims, err := s.ServerClaims(ctx, b.ID, now, clock.Now())
	if err != nil || len(claims) != 1 || !claims[0].Taken || !claims[0].Ours || claims[0].PerHour != 0.5 {
		t.Fatalf("claims after the take = %+v, %v", claims, err)
	}
	if err := save(b, "wb", commands.JobUpdate{Hold: hold(now)}); !errors.Is(err, commands.ErrHeld) {
		t.Fatalf("hold from a snapshot older than the take = %v, want ErrHeld", err)
	}
	if err := save(b, "wb", commands.JobUpdate{Hold: hold(clock.Now().Add(time.Second))}); err != nil {
		t.Fatalf("hold from a newer snapshot = %v", err)
	}
	if err := save(b, "wb", commands.JobUpdate{}); err != nil { // create_order refused: the hold goes
		t.Fatal(err)
	}
	if claims, _ := s.ServerClaims(ctx, a.ID, clock.Now(), clock.Now()); len(claims) != 0 {
		t.Fatalf("claims after the hold ended: %+v", claims)
	}
	// A hold whose job's lease lapsed (its process died) gives way.
	if err := save(b, "wb", commands.JobUpdate{Hold: hold(clock.Now())}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour) // past b's lease
	claimJob(t, s, a.ID, "wa", clock.Now())
	if err := save(a, "wa", commands.JobUpdate{Hold: hold(clock.Now())}); err != nil {
		t.Fatalf("hold over a dead lease's = %v", err)
	}
	// Refused by Clore as unavailable (server-offline): left out for
	// UnavailableFor whatever the snapshot, then free again.
	if err := save(a, "wa", commands.JobUpdate{Took: commands.TookUnavailable}); err != nil {
		t.Fatal(err)
	}
	at := clock.Now()
	if claims, _ := s.ServerClaims(ctx, b.ID, at.Add(time.Hour), at.Add(commands.UnavailableFor-time.Second)); len(claims) != 1 || !claims[0].Unavailable {
		t.Fatalf("claims of an unavailable server within the window: %+v", claims)
	}
	if claims, _ := s.ServerClaims(ctx, b.ID, at.Add(time.Hour), at.Add(commands.UnavailableFor+time.Second)); len(claims) != 0 {
		t.Fatalf("claims of an unavailable server past the window: %+v", claims)
	}
}
