package storage

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestAuditAppendAndList(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	explicit := time.Date(2025, 3, 14, 10, 0, 0, 0, time.FixedZone("EST", -5*3600))
	entries := []AuditEntry{
		{Actor: "slack:U1", Platform: "slack", Channel: "C1", Command: "rent 4090 --max-price 0.5", Outcome: "ok", OrderID: ptr(int64(77)), USDPerHour: ptr(0.42)},
		{Actor: "discord:9", Platform: "discord", Command: "cancel 77", Outcome: "denied", Detail: "not your order"},
		{At: explicit, Actor: "cli:root", Platform: "cli", Command: "status", Outcome: "ok"},
	}
	var ids []int64
	for _, e := range entries {
		id, err := s.AppendAudit(ctx, e)
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		ids = append(ids, id)
		clock.Advance(time.Minute)
	}
	// In UTC: 14:09:26, 14:10:26 and 15:00, so insertion order is time order.
	want := []AuditEntry{entries[0], entries[1], entries[2]}
	want[0].ID, want[0].At = ids[0], epoch.UTC()
	want[1].ID, want[1].At = ids[1], epoch.Add(time.Minute).UTC()
	want[2].ID, want[2].At = ids[2], explicit.UTC()

	tests := []struct {
		name   string
		filter AuditFilter
		want   []AuditEntry
	}{
		{"all, oldest first", AuditFilter{}, want},
		{"since is inclusive", AuditFilter{Since: epoch.Add(time.Minute)}, want[1:]},
		{"since in another zone", AuditFilter{Since: epoch.Add(30 * time.Second).In(time.FixedZone("X", 9*3600))}, want[1:]},
		{"limit", AuditFilter{Limit: 1}, want[:1]},
		{"newest first keeps the latest", AuditFilter{Limit: 2, NewestFirst: true}, []AuditEntry{want[2], want[1]}},
		{"since after all", AuditFilter{Since: explicit.Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListAudit: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ListAudit =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// A batch is written in one transaction, in order, all or nothing.
func TestAuditAppendBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.AppendAuditBatch(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	batch := []AuditEntry{
		{Actor: "slack:U1", Platform: "slack", Command: "help", Outcome: "ok"},
		{Actor: "slack:U2", Platform: "slack", Command: "market", Outcome: "ok", USDPerHour: ptr(0.5)},
		{At: epoch.Add(time.Hour), Actor: "discord:9", Platform: "discord", Command: "frobnicate", Outcome: "error", Detail: "unknown command"},
	}
	if err := s.AppendAuditBatch(ctx, batch); err != nil {
		t.Fatalf("AppendAuditBatch: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.AppendAuditBatch(cancelled, batch); err == nil {
		t.Error("a batch under a cancelled context was written")
	}
	got, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(batch) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(batch), got)
	}
	for i, e := range got {
		want := batch[i]
		want.ID = e.ID
		if want.At.IsZero() {
			want.At = epoch.UTC()
		}
		want.At = want.At.UTC()
		if !reflect.DeepEqual(e, want) {
			t.Errorf("row %d = %+v, want %+v", i, e, want)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("ids out of order: %d after %d", e.ID, got[i-1].ID)
		}
	}
}
