package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// appendTestEvents appends events of the given types to the outbox and
// returns their ids.
func appendTestEvents(t *testing.T, s *Store, types ...string) []int64 {
	t.Helper()
	ctx := context.Background()
	o := Order{ServerID: 1, State: OrderRunning}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	events := make([]commands.Event, len(types))
	for i, typ := range types {
		events[i] = commands.Event{Type: typ, Data: []byte(fmt.Sprintf(`{"n": %d}`, i))}
	}
	if err := s.UpdateOrder(ctx, o, events...); err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	all, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	var ids []int64
	for _, e := range all[len(all)-len(types):] {
		ids = append(ids, e.ID)
	}
	return ids
}

// enqueue fans ds out up to upTo and returns how many were inserted.
func enqueue(t *testing.T, s *Store, upTo int64, now time.Time, ds ...commands.NewDelivery) int {
	t.Helper()
	n, err := s.EnqueueDeliveries(context.Background(), upTo, ds, now)
	if err != nil {
		t.Fatalf("EnqueueDeliveries: %v", err)
	}
	return n
}

func cursor(t *testing.T, s *Store) int64 {
	t.Helper()
	c, err := s.DeliveryCursor(context.Background())
	if err != nil {
		t.Fatalf("DeliveryCursor: %v", err)
	}
	return c
}

func TestEnqueueDeliveriesIsIdempotentAndAdvancesCursor(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if c := cursor(t, s); c != 0 {
		t.Fatalf("cursor of a fresh database = %d, want 0", c)
	}
	ids := appendTestEvents(t, s, "order.created", "order.running")
	now := epoch.UTC()
	first := []commands.NewDelivery{
		{EventID: ids[0], URL: "https://a.example/hook", SecretRef: "subscriber:https://a.example/hook", MessageID: "msg_1"},
		{EventID: ids[0], URL: "https://b.example/cb", SecretRef: "key:zapier", MessageID: "msg_2"},
		{EventID: ids[1], URL: "https://a.example/hook", SecretRef: "subscriber:https://a.example/hook", MessageID: "msg_3"},
	}
	if n := enqueue(t, s, ids[1], now, first...); n != 3 {
		t.Fatalf("inserted %d, want 3", n)
	}
	if c := cursor(t, s); c != ids[1] {
		t.Fatalf("cursor = %d, want %d", c, ids[1])
	}

	// The same fan-out again (a crash before the cursor moved, or a second
	// process) inserts nothing and keeps the first message ids.
	again := slices.Clone(first)
	for i := range again {
		again[i].MessageID += "-again"
	}
	if n := enqueue(t, s, ids[1], now, again...); n != 0 {
		t.Fatalf("repeated fan-out inserted %d, want 0", n)
	}
	// A stale fan-out never moves the cursor backwards.
	if n := enqueue(t, s, ids[0], now); n != 0 || cursor(t, s) != ids[1] {
		t.Fatalf("stale fan-out: inserted %d, cursor %d; want 0, %d", n, cursor(t, s), ids[1])
	}
	all, err := s.ListDeliveries(ctx, DeliveryFilter{})
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	var msgs []string
	for _, d := range all {
		msgs = append(msgs, d.MessageID)
		if d.State != commands.DeliveryPending || d.Attempts != 0 || !d.NextAt.Equal(now) || !d.CreatedAt.Equal(now) {
			t.Errorf("new delivery %+v: want pending, no attempts, due and created at %v", d, now)
		}
	}
	if want := []string{"msg_3", "msg_2", "msg_1"}; !slices.Equal(msgs, want) {
		t.Fatalf("message ids newest first = %v, want %v", msgs, want)
	}
	d := all[2]
	if d.EventID != ids[0] || d.EventType != "order.created" || string(d.EventData) != `{"n": 0}` || d.EventAt.IsZero() {
		t.Errorf("delivery lost its event: %+v", d)
	}
}

func TestEnqueueDeliveriesRejects(t *testing.T) {
	s, _ := newStore(t)
	ids := appendTestEvents(t, s, "order.created")
	ok := commands.NewDelivery{EventID: ids[0], URL: "https://a.example", SecretRef: "key:k", MessageID: "msg_1"}
	tests := map[string]func(d *commands.NewDelivery){
		"event after upTo": func(d *commands.NewDelivery) { d.EventID = ids[0] + 1 },
		"no URL":           func(d *commands.NewDelivery) { d.URL = "" },
		"no secret ref":    func(d *commands.NewDelivery) { d.SecretRef = "" },
		"no message id":    func(d *commands.NewDelivery) { d.MessageID = "" },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			d := ok
			change(&d)
			if _, err := s.EnqueueDeliveries(context.Background(), ids[0], []commands.NewDelivery{d}, epoch); err == nil {
				t.Fatal("EnqueueDeliveries accepted a bad delivery")
			}
			if c := cursor(t, s); c != 0 {
				t.Fatalf("cursor moved to %d on a refused fan-out", c)
			}
		})
	}
}

func TestMigration0004StartsCursorAfterExistingEvents(t *testing.T) {
	storagetest.Skip(t, "migrations before PostgreSQL's baseline (0026)")
	ctx := context.Background()
	path := tempDBPath(t)
	old := openStore(t, path)
	old.migrations = slices.DeleteFunc(slices.Clone(old.migrations), func(m migration) bool { return m.version >= 4 })
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatalf("Migrate before 0004: %v", err)
	}
	ids := appendTestEvents(t, old, "order.created", "order.running")
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, _ := newStoreAt(t, path)
	if c := cursor(t, s); c != ids[1] {
		t.Fatalf("cursor after upgrade = %d, want %d: history is not replayed", c, ids[1])
	}
}

func TestClaimDueDeliveries(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	ids := appendTestEvents(t, s, "a", "b", "c")
	t0 := epoch.UTC()
	for i, id := range ids {
		enqueue(t, s, id, t0.Add(time.Duration(i)*time.Second),
			commands.NewDelivery{EventID: id, URL: "https://r.example", SecretRef: "key:k", MessageID: fmt.Sprint("msg_", i)})
	}
	claim := func(now time.Time, limit int) []string {
		t.Helper()
		ds, err := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), limit)
		if err != nil {
			t.Fatalf("ClaimDueDeliveries: %v", err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.EventType)
		}
		return got
	}
	if got := claim(t0.Add(-time.Nanosecond), 10); len(got) != 0 {
		t.Fatalf("claimed %v before anything was due", got)
	}
	if got := claim(t0.Add(time.Second), 1); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("first claim = %v, want [a] (earliest, limit 1)", got)
	}
	if got := claim(t0.Add(time.Second), 10); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("second claim = %v, want [b]: a is claimed, c not yet due", got)
	}
	if got := claim(t0.Add(time.Minute), 10); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("third claim = %v, want [c]", got)
	}
	// A claim that was never recorded (the dispatcher died) falls due again.
	if got := claim(t0.Add(time.Minute+time.Second), 10); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("claim after the lease = %v, want [a b]", got)
	}
	if _, err := s.ClaimDueDeliveries(ctx, t0, t0, 0); err == nil {
		t.Fatal("ClaimDueDeliveries accepted limit 0")
	}
}

func TestRecordDeliveryAttempt(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	ids := appendTestEvents(t, s, "order.running")
	t0 := epoch.UTC()
	enqueue(t, s, ids[0], t0, commands.NewDelivery{EventID: ids[0], URL: "https://r.example", SecretRef: "key:k", MessageID: "msg_1"})
	get := func() commands.Delivery {
		t.Helper()
		all, err := s.ListDeliveries(ctx, DeliveryFilter{})
		if err != nil || len(all) != 1 {
			t.Fatalf("ListDeliveries = %v, %v", all, err)
		}
		d, err := s.GetDelivery(ctx, all[0].ID)
		if err != nil {
			t.Fatalf("GetDelivery: %v", err)
		}
		return d
	}
	id := get().ID
	record := func(a commands.DeliveryAttempt) {
		t.Helper()
		a.ID = id
		if err := s.RecordDeliveryAttempt(ctx, a); err != nil {
			t.Fatalf("RecordDeliveryAttempt: %v", err)
		}
	}

	t1 := t0.Add(time.Second)
	record(commands.DeliveryAttempt{At: t1, Status: 503, Error: "HTTP 503", State: commands.DeliveryPending, NextAt: t1.Add(5 * time.Second)})
	d := get()
	if d.State != commands.DeliveryPending || d.Attempts != 1 || d.LastStatus != 503 || d.LastError != "HTTP 503" ||
		!d.NextAt.Equal(t1.Add(5*time.Second)) || !d.LastAttemptAt.Equal(t1) || !d.DeliveredAt.IsZero() {
		t.Fatalf("after a failure: %+v", d)
	}
	failed, err := s.ListDeliveries(ctx, DeliveryFilter{FailedOnly: true})
	if err != nil || len(failed) != 1 {
		t.Fatalf("a failing pending delivery is listed as failed: %v, %v", failed, err)
	}

	clock.Advance(time.Hour)
	t2 := t1.Add(6 * time.Second)
	record(commands.DeliveryAttempt{At: t2, Status: 204, State: commands.DeliveryDelivered})
	d = get()
	if d.State != commands.DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 204 || d.LastError != "" ||
		!d.DeliveredAt.Equal(t2) || !d.UpdatedAt.Equal(clock.Now().UTC()) {
		t.Fatalf("after success: %+v", d)
	}
	// A settled delivery is left alone: a late or duplicate record changes nothing.
	record(commands.DeliveryAttempt{At: t2.Add(time.Hour), Status: 500, Error: "late", State: commands.DeliveryDead})
	if got := get(); got.State != commands.DeliveryDelivered || got.Attempts != 2 {
		t.Fatalf("a late record changed a delivered delivery: %+v", got)
	}
	if err := s.RecordDeliveryAttempt(ctx, commands.DeliveryAttempt{ID: 404, At: t2, State: commands.DeliveryDead}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("record on a missing delivery: %v, want ErrNotFound", err)
	}
	if err := s.RecordDeliveryAttempt(ctx, commands.DeliveryAttempt{ID: id, At: t2, State: "lost"}); err == nil {
		t.Fatal("record with an unknown state accepted")
	}
	if _, err := s.GetDelivery(ctx, 404); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetDelivery(404): %v, want ErrNotFound", err)
	}
}

func TestRetryDeliveries(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	ids := appendTestEvents(t, s, "dead", "failing", "fresh", "delivered")
	t0 := epoch.UTC()
	var ds []commands.NewDelivery
	for i, id := range ids {
		ds = append(ds, commands.NewDelivery{EventID: id, URL: "https://r.example", SecretRef: "key:k", MessageID: fmt.Sprint("msg_", i)})
	}
	enqueue(t, s, ids[len(ids)-1], t0, ds...)
	byType := map[string]int64{}
	all, _ := s.ListDeliveries(ctx, DeliveryFilter{})
	for _, d := range all {
		byType[d.EventType] = d.ID
	}
	later := t0.Add(time.Hour)
	for typ, a := range map[string]commands.DeliveryAttempt{
		"dead":      {Status: 500, Error: "HTTP 500", State: commands.DeliveryDead},
		"failing":   {Error: "timeout", State: commands.DeliveryPending, NextAt: later},
		"delivered": {Status: 200, State: commands.DeliveryDelivered},
	} {
		a.ID, a.At = byType[typ], t0
		if err := s.RecordDeliveryAttempt(ctx, a); err != nil {
			t.Fatalf("RecordDeliveryAttempt(%s): %v", typ, err)
		}
	}
	failed, err := s.ListDeliveries(ctx, DeliveryFilter{FailedOnly: true, Limit: 10})
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	var got []string
	for _, d := range failed {
		got = append(got, d.EventType)
	}
	if want := []string{"failing", "dead"}; !slices.Equal(got, want) {
		t.Fatalf("failed = %v, want %v", got, want)
	}
	if limited, _ := s.ListDeliveries(ctx, DeliveryFilter{Limit: 1}); len(limited) != 1 || limited[0].EventType != "delivered" {
		t.Fatalf("Limit 1 = %+v, want the newest only", limited)
	}

	now := t0.Add(2 * time.Minute)
	if err := s.RetryDelivery(ctx, byType["dead"], now); err != nil {
		t.Fatalf("RetryDelivery(dead): %v", err)
	}
	d, _ := s.GetDelivery(ctx, byType["dead"])
	if d.State != commands.DeliveryPending || d.Attempts != 0 || !d.NextAt.Equal(now) || d.LastError != "HTTP 500" {
		t.Fatalf("retried dead delivery = %+v; want pending afresh, due now, last error kept", d)
	}
	if err := s.RetryDelivery(ctx, byType["delivered"], now); !errors.Is(err, ErrConflict) {
		t.Fatalf("RetryDelivery(delivered): %v, want ErrConflict", err)
	}
	if err := s.RetryDelivery(ctx, 404, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RetryDelivery(404): %v, want ErrNotFound", err)
	}
	if err := s.RetryDelivery(ctx, byType["fresh"], now.Add(time.Hour)); err != nil {
		t.Fatalf("RetryDelivery(fresh): %v", err)
	}
	if d, _ := s.GetDelivery(ctx, byType["fresh"]); !d.NextAt.Equal(t0) {
		t.Fatalf("retrying a delivery that never failed moved it: %+v", d)
	}

	n, err := s.RetryFailedDeliveries(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("RetryFailedDeliveries = %d, %v; want 1 (the failing one; dead was retried already)", n, err)
	}
	due, err := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatalf("ClaimDueDeliveries: %v", err)
	}
	got = got[:0]
	for _, d := range due {
		got = append(got, d.EventType)
	}
	slices.Sort(got)
	if want := []string{"dead", "failing", "fresh"}; !slices.Equal(got, want) {
		t.Fatalf("due after retries = %v, want %v", got, want)
	}
}

// A reply is one event and one delivery, written together; the cursor does
// not move, and only that receiver has a delivery of it.
func TestEnqueueReply(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t0 := epoch.UTC()
	before := cursor(t, s)
	id, err := s.EnqueueReply(ctx, "status.report", []byte(`{"status":"ok"}`), "https://cb.example/x", "key:zap", "msg_r", t0)
	if err != nil || id <= 0 {
		t.Fatalf("EnqueueReply = %d, %v", id, err)
	}
	if c := cursor(t, s); c != before {
		t.Errorf("cursor moved from %d to %d", before, c)
	}
	ds, err := s.ClaimDueDeliveries(ctx, t0, t0.Add(time.Minute), 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDueDeliveries = %v, %v", ds, err)
	}
	d := ds[0]
	if d.ID != id || d.EventType != "status.report" || string(d.EventData) != `{"status":"ok"}` ||
		d.URL != "https://cb.example/x" || d.SecretRef != "key:zap" || d.MessageID != "msg_r" {
		t.Errorf("delivery = %+v", d)
	}
	for _, bad := range [][]string{{"", "https://x", "key:k", "m"}, {"t", "", "key:k", "m"}, {"t", "https://x", "", "m"}, {"t", "https://x", "key:k", ""}} {
		if _, err := s.EnqueueReply(ctx, bad[0], nil, bad[1], bad[2], bad[3], t0); err == nil {
			t.Errorf("EnqueueReply%q accepted", bad)
		}
	}
	if _, err := s.EnqueueReply(ctx, "t", []byte(`{not json`), "https://x", "key:k", "m2", t0); err == nil {
		t.Error("EnqueueReply accepted data that is not JSON")
	}
	// The same message id again is the same delivery: nothing new is queued.
	events, _ := s.ListEvents(ctx, 0, 0)
	if again, err := s.EnqueueReply(ctx, "t", nil, "https://x", "key:k", "msg_r", t0); err != nil || again != id {
		t.Errorf("EnqueueReply with a used message id = %d, %v; want %d", again, err, id)
	}
	if after, _ := s.ListEvents(ctx, 0, 0); len(after) != len(events) {
		t.Errorf("a repeated message id appended an event")
	}
}
