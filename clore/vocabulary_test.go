package clore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/clore/sandbox"
)

// The sandbox meets each documented situation as real Clore does, and the
// client turns its answer into the typed error: code 6 with the documented
// string, code 2 with HTTP 400 for invalid input, an opaque code 1 for a
// required_price that no longer matches.
func TestConformanceVocabulary(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{Servers: 300})
	c := newTestClient(sb.url)
	other := New(Options{BaseURL: sb.url, APIKey: "another-account", Interval: 1, CreateInterval: 1, FeeRefresh: -1})
	ctx := context.Background()
	servers, err := c.Marketplace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	free := freeUSDOffers(ctx, t, c, Offers(servers))
	next := func() Offer { o := free[0]; free = free[1:]; return o }
	onDemand := func(o Offer) CreateOrderRequest {
		return CreateOrderRequest{RentingServer: o.ServerID, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "img"}
	}
	spot := func(o Offer, bid float64) CreateOrderRequest {
		r := onDemand(o)
		r.Type, r.SpotPrice = OrderSpot, bid
		return r
	}
	orderOn := func(serverID int64) Order { return findOrder(t, c, serverID, false) }

	// An on-demand order and a spot order to manage.
	od := next()
	if err := c.CreateOrder(ctx, onDemand(od)); err != nil {
		t.Fatal(err)
	}
	sp := next()
	bid := sp.SpotPerDay[CurrencyUSD] * 10
	if err := c.CreateOrder(ctx, spot(sp, bid)); err != nil {
		t.Fatal(err)
	}
	spotOrder := orderOn(sp.ServerID)
	ended := next()
	if err := c.CreateOrder(ctx, onDemand(ended)); err != nil {
		t.Fatal(err)
	}
	endedOrder := orderOn(ended.ServerID)
	if err := c.CancelOrder(ctx, endedOrder.ID, ""); err != nil {
		t.Fatal(err)
	}
	noUSD := slices.IndexFunc(Offers(servers), func(o Offer) bool { return !o.Rented && !o.Accepts(CurrencyUSD) })
	offline := offlineServer(ctx, t, c, Offers(servers))

	tests := []struct {
		name string
		do   func() error
		want error
		http int
	}{
		{"server-dont-exist", func() error { return c.CreateOrder(ctx, onDemand(Offer{ServerID: 1})) }, ErrServerDontExist, 200},
		{"server-offline", func() error { return c.CreateOrder(ctx, onDemand(Offer{ServerID: offline})) }, ErrServerOffline, 200},
		{"server-already-rented", func() error {
			o := next()
			sb.RentByOther(o.ServerID)
			return c.CreateOrder(ctx, onDemand(o))
		}, ErrServerAlreadyRented, 200},
		{"not_enough_balance", func() error {
			poor := newSandbox(t, sandbox.Options{Servers: 300, InitialBalances: map[string]float64{CurrencyUSD: 0.01}})
			return newTestClient(poor.url).CreateOrder(ctx, onDemand(next())) // same seed, same servers
		}, ErrNotEnoughBalance, 200},
		{"cant_rent_from_yourself", func() error {
			o := next()
			sb.OwnServer(o.ServerID)
			return c.CreateOrder(ctx, onDemand(o))
		}, ErrCantRentFromYourself, 200},
		{"too_low_price", func() error { return c.CreateOrder(ctx, spot(next(), 1e-6)) }, ErrTooLowPrice, 200},
		{"you_already_have_spot_order", func() error { return c.CreateOrder(ctx, spot(sp, bid)) }, ErrAlreadyHaveSpotOrder, 200},
		{"currency-not-allowed", func() error {
			return c.CreateOrder(ctx, onDemand(Offers(servers)[noUSD]))
		}, ErrCurrencyNotAllowed, 500},
		{"machine-is-on-gigaspot", func() error {
			o := next()
			sb.MoveToGigaspot(o.ServerID)
			return c.CreateOrder(ctx, onDemand(o))
		}, ErrMachineOnGigaspot, 200},
		{"you_dont_own_this_order", func() error { return other.CancelOrder(ctx, orderOn(od.ServerID).ID, "") }, ErrNotYourOrder, 200},
		{"order_not_active", func() error { return c.CancelOrder(ctx, endedOrder.ID, "") }, ErrOrderNotActive, 200},
		{"issue_description_too_long", func() error {
			return c.CancelOrder(ctx, orderOn(od.ServerID).ID, strings.Repeat("x", 2049))
		}, ErrIssueTooLong, 200},
		{"order_dont_exist (cancel)", func() error { return c.CancelOrder(ctx, 42, "") }, ErrOrderDontExist, 200},
		{"order_dont_exist (set_spot_price)", func() error { return c.SetSpotPrice(ctx, 42, 1) }, ErrOrderDontExist, 200},
		{"amount_too_low", func() error { return c.SetSpotPrice(ctx, spotOrder.ID, 1e-6) }, ErrAmountTooLow, 200},
		{"exceeded_max_step", func() error { return c.SetSpotPrice(ctx, spotOrder.ID, bid*0.5) }, ErrExceededMaxStep, 200},
		{"can_lower_every_600_seconds", func() error {
			if err := c.SetSpotPrice(ctx, spotOrder.ID, bid*0.95); err != nil {
				return err
			}
			return c.SetSpotPrice(ctx, spotOrder.ID, bid*0.9)
		}, ErrLowerTooSoon, 200},
		{"code 2: invalid input is HTTP 400", func() error {
			r := onDemand(next())
			r.Type = "on_demand"
			return c.CreateOrder(ctx, r)
		}, ErrInvalidInput, 400},
		{"code 1: a required_price that no longer matches", func() error {
			r := onDemand(next())
			r.RequiredPrice = drifted(free[0].OnDemandPerDay[CurrencyUSD]) // another server's price
			return c.CreateOrder(ctx, r)
		}, ErrDatabase, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(activeOrders(t, c))
			err := tt.do()
			var ae *APIError
			if !errors.Is(err, tt.want) || !errors.As(err, &ae) || ae.HTTPStatus != tt.http {
				t.Fatalf("err = %v, want %v with HTTP %d", err, tt.want, tt.http)
			}
			if ae.Code == CodeSeeError && ae.Message == "" {
				t.Error("code 6 without its error string")
			}
			if tt.want != ErrLowerTooSoon && len(activeOrders(t, c)) != before {
				t.Error("the failed call changed the account's orders")
			}
		})
	}
}

// drifted moves a price off its value, as a drifting marketplace would.
func drifted(p float64) float64 { return p + 0.37 }

func activeOrders(t *testing.T, c *Client) []Order {
	t.Helper()
	orders, err := c.MyOrders(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return orders
}

// freeUSDOffers are the free, online offers payable in USD, cheapest first.
func freeUSDOffers(ctx context.Context, t *testing.T, c *Client, offers []Offer) []Offer {
	t.Helper()
	var out []Offer
	for _, o := range offers {
		if !o.Rented && o.Accepts(CurrencyUSD) && o.OnDemandPerDay[CurrencyUSD] > 0 && o.SpotPerDay[CurrencyUSD] > 0 && o.OnDemandUSDPerHour < 1 {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Offer) int { return int(a.ServerID - b.ServerID) })
	online := out[:0]
	for _, o := range out {
		m, err := c.SpotMarketplace(ctx, o.ServerID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Market.Server.Online {
			online = append(online, o)
		}
		if len(online) == 16 {
			break
		}
	}
	if len(online) < 16 {
		t.Fatalf("only %d free USD offers", len(online))
	}
	return online
}

// offlineServer is a server the spot market reports offline.
func offlineServer(ctx context.Context, t *testing.T, c *Client, offers []Offer) int64 {
	t.Helper()
	for _, o := range offers {
		if !o.Accepts(CurrencyUSD) {
			continue
		}
		m, err := c.SpotMarketplace(ctx, o.ServerID)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Market.Server.Online {
			return o.ServerID
		}
	}
	t.Fatal("no offline server")
	return 0
}
