package clore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// documentedCode6 is every code-6 `error` string of Clore's error-codes
// reference (dev.clore.ai/reference/error-codes) and of the captured answers
// (clore-api.md §2), with the endpoint that answers it and its sentinel.
var documentedCode6 = []struct {
	message  string
	endpoint string
	want     []error
}{
	// create_order
	{"server-dont-exist", "create_order", []error{ErrServerDontExist}},
	{"server-offline", "create_order", []error{ErrServerOffline}},
	{"server-already-rented", "create_order", []error{ErrServerAlreadyRented}},
	{"not_enough_balance", "create_order", []error{ErrNotEnoughBalance}},
	{"cant_rent_from_yourself", "create_order", []error{ErrCantRentFromYourself}},
	{"too_low_price", "create_order", []error{ErrTooLowPrice}},
	{"you_already_have_spot_order", "create_order", []error{ErrAlreadyHaveSpotOrder}},
	{"currency-not-allowed", "create_order", []error{ErrCurrencyNotAllowed}},
	{"machine-is-on-gigaspot", "create_order", []error{ErrMachineOnGigaspot}},
	// cancel_order and other order management
	{"you_dont_own_this_order", "cancel_order", []error{ErrNotYourOrder}},
	{"order_not_active", "cancel_order", []error{ErrOrderNotActive}},
	{"issue_description_too_long", "cancel_order", []error{ErrIssueTooLong}},
	// set_spot_price
	{"order_dont_exist", "set_spot_price", []error{ErrOrderDontExist}},
	{"amount_too_low", "set_spot_price", []error{ErrAmountTooLow, ErrTooLowPrice}},
	{"can_lower_every_600_seconds", "set_spot_price", []error{ErrLowerTooSoon}},
	{"exceeded_max_step", "set_spot_price", []error{ErrExceededMaxStep}},
	// set_server_settings (host endpoints; clorebot does not call them)
	{"server_dont_exist", "set_server_settings", []error{ErrHostServerDontExist}},
	{"not_all_parameters_present", "set_server_settings", []error{ErrMissingParameters}},
	{"invalid_mrl", "set_server_settings", []error{ErrInvalidMRL}},
	{"invalid_input", "set_server_settings", []error{ErrInvalidSetting}},
}

// The client knows exactly the documented strings: none missing, none invented.
func TestCode6VocabularyIsTheDocumentedOne(t *testing.T) {
	var documented []string
	for _, d := range documentedCode6 {
		documented = append(documented, d.message)
	}
	slices.Sort(documented)
	if got := Code6Strings(); !slices.Equal(got, documented) {
		t.Errorf("client knows %q\nthe docs list %q", got, documented)
	}
}

// Every documented string, answered with HTTP 200 or 500 by a fake and by the
// sandbox's injected answers, is its typed error: errors.Is matches its
// sentinel and no other, the call is not repeated, and the outcome is known.
func TestEveryDocumentedCode6String(t *testing.T) {
	t.Parallel()
	var sentinels []error
	for _, d := range documentedCode6 {
		sentinels = append(sentinels, d.want...)
	}
	sentinels = append(sentinels, ErrOther, ErrInvalidInput, ErrDatabase)
	calls := map[string]func(ctx context.Context, c *Client) error{
		"create_order": func(ctx context.Context, c *Client) error {
			return c.CreateOrder(ctx, CreateOrderRequest{RentingServer: 1, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "img"})
		},
		"cancel_order":        func(ctx context.Context, c *Client) error { return c.CancelOrder(ctx, 7, "") },
		"set_spot_price":      func(ctx context.Context, c *Client) error { return c.SetSpotPrice(ctx, 7, 1) },
		"set_server_settings": func(ctx context.Context, c *Client) error { return c.SetSpotPrice(ctx, 7, 1) },
	}
	for _, b := range cannedBackends {
		for _, d := range documentedCode6 {
			for _, status := range []int{200, 500} {
				endpoint := d.endpoint
				if endpoint == "set_server_settings" {
					endpoint = "set_spot_price" // same envelope, an endpoint the client calls
				}
				t.Run(fmt.Sprintf("%s/%s/HTTP%d", b.name, d.message, status), func(t *testing.T) {
					body, _ := json.Marshal(map[string]any{"error": d.message, "code": 6})
					n, c := b.start(t, endpoint, []fakeAnswer{{status, string(body)}})
					err := calls[d.endpoint](context.Background(), c)
					var ae *APIError
					if !errors.As(err, &ae) || ae.Code != CodeSeeError || ae.Message != d.message {
						t.Fatalf("err = %v, want an APIError code 6 %q", err, d.message)
					}
					for _, s := range sentinels {
						if got, want := errors.Is(err, s), slices.Contains(d.want, s); got != want {
							t.Errorf("errors.Is(%v) = %v, want %v", s, got, want)
						}
					}
					if OutcomeUnknown(err) {
						t.Error("a code-6 answer leaves the outcome unknown")
					}
					if got := n(); got != 1 {
						t.Errorf("%d requests, want 1 (code 6 is never retried)", got)
					}
				})
			}
		}
	}
}
