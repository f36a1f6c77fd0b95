package storage

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestOrderCRUD(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	expires := epoch.Add(4 * time.Hour)
	o := Order{
		ServerID: 42, GPUModel: "RTX 4090", GPUCount: 2, Currency: "CLORE-Blockchain",
		Spot: true, PricePerDay: 123.5, USDPerHour: 0.84, Image: "cloreai/torch:2.1",
		RequestedBy: "slack:U123", ReplyTarget: "slack:C1/1700000000.0001",
		State: OrderCreating, ExpiresAt: &expires,
	}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	if o.ID == 0 || !o.CreatedAt.Equal(epoch) || !o.UpdatedAt.Equal(epoch) {
		t.Fatalf("after CreateOrder: ID %d, CreatedAt %v, UpdatedAt %v; want an id and the clock's time", o.ID, o.CreatedAt, o.UpdatedAt)
	}
	got, err := s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	assertOrder(t, got, o)

	clock.Advance(time.Minute)
	o.CloreOrderID = ptr(int64(9001))
	o.State, o.Error, o.ExpiresAt, o.Spot = OrderRunning, "", nil, false
	if err := s.UpdateOrder(ctx, o); err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	got, err = s.GetOrderByCloreID(ctx, 9001)
	if err != nil {
		t.Fatalf("GetOrderByCloreID: %v", err)
	}
	want := o
	want.UpdatedAt = epoch.Add(time.Minute)
	assertOrder(t, got, want)
}

// assertOrder compares orders, times by instant and in UTC.
func assertOrder(t *testing.T, got, want Order) {
	t.Helper()
	for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s = %v, want UTC", name, tm)
		}
	}
	norm := func(o Order) Order {
		o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
		if o.ExpiresAt != nil {
			o.ExpiresAt = ptr(o.ExpiresAt.UTC())
		}
		return o
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("order =\n%+v\nwant\n%+v", g, w)
	}
}

func TestOrderNotFound(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"GetOrder", func() error { _, err := s.GetOrder(ctx, 404); return err }},
		{"GetOrderByCloreID", func() error { _, err := s.GetOrderByCloreID(ctx, 404); return err }},
		{"UpdateOrder", func() error { return s.UpdateOrder(ctx, Order{ID: 404, ServerID: 1, State: OrderRunning}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestOrderUniqueCloreID(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	first := Order{ServerID: 1, CloreOrderID: ptr(int64(5)), State: OrderRunning}
	if err := s.CreateOrder(ctx, &first); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	// Orders whose Clore id is not known yet do not collide.
	for range 2 {
		if err := s.CreateOrder(ctx, &Order{ServerID: 2, State: OrderCreating}); err != nil {
			t.Fatalf("CreateOrder without clore id: %v", err)
		}
	}
	dup := Order{ServerID: 3, CloreOrderID: ptr(int64(5)), State: OrderRunning}
	if err := s.CreateOrder(ctx, &dup); !errors.Is(err, ErrConflict) {
		t.Fatalf("CreateOrder with a taken clore id: err = %v, want ErrConflict", err)
	}
	other := Order{ServerID: 4, State: OrderCreating}
	if err := s.CreateOrder(ctx, &other); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	other.CloreOrderID = ptr(int64(5))
	if err := s.UpdateOrder(ctx, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("UpdateOrder to a taken clore id: err = %v, want ErrConflict", err)
	}
}

func TestOrderRequiresState(t *testing.T) {
	s, _ := newStore(t)
	if err := s.CreateOrder(context.Background(), &Order{ServerID: 1}); err == nil {
		t.Fatal("CreateOrder without a state succeeded")
	}
}

func TestListOrders(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	seed := []struct{ by, state string }{
		{"slack:A", OrderRunning},   // id 1
		{"slack:B", OrderRunning},   // id 2
		{"slack:A", OrderCancelled}, // id 3
		{"discord:C", OrderFailed},  // id 4
		{"slack:A", OrderCreating},  // id 5
	}
	for _, o := range seed {
		clock.Advance(time.Second)
		if err := s.CreateOrder(ctx, &Order{ServerID: 1, RequestedBy: o.by, State: o.state}); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
	}
	tests := []struct {
		name   string
		filter OrderFilter
		want   []int64
	}{
		{"all, newest first", OrderFilter{}, []int64{5, 4, 3, 2, 1}},
		{"by requester", OrderFilter{RequestedBy: "slack:A"}, []int64{5, 3, 1}},
		{"by states", OrderFilter{States: []string{OrderRunning, OrderCreating}}, []int64{5, 2, 1}},
		{"requester and state", OrderFilter{RequestedBy: "slack:A", States: []string{OrderRunning}}, []int64{1}},
		{"limit", OrderFilter{Limit: 2}, []int64{5, 4}},
		{"no match", OrderFilter{RequestedBy: "cli:nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orders, err := s.ListOrders(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListOrders: %v", err)
			}
			var got []int64
			for _, o := range orders {
				got = append(got, o.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}
