package webhook_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clorebot/clorebot/bot/webhook"
)

var fuzzRoutes = []string{webhook.RouteCreateOrder, webhook.RouteCancelOrder, webhook.RoutePriceAlert, webhook.RouteStatus, webhook.RouteCommand}

// FuzzDecode feeds arbitrary bodies to every route's decoder: it never
// panics; a refusal is a *FieldError naming a field, short whatever the
// input; an accepted body is a command whose values are within the
// documented ranges.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"gpu_type":"RTX 4090","count":2,"max_price":0.5,"image":"nvidia/cuda:12.4.1-base-ubuntu22.04","use_spot":true,"hours":2,"callback_url":"https://example.com/cb"}`,
		`{"order_id":1942182}`, `{"gpu_type":"a100 80gb","target_price":1.2,"auto_rent":true}`, `{}`, ``,
		`{"text":"rent 4090 --hours 2 --max-price 0.4"}`, `{"text":"watch h100 2 --auto-rent"}`,
		`[1,2]`, `{"max_price":1e309}`, `{"max_price":"NaN"}`, `{"gpu_type":"4090","gpu_type":"4090"}`,
		`{"gpu_type":{"$ne":null}}`, `{"count":-0}`, `{"hours":1e-320,"gpu_type":"3090"}`, "{\"gpu_type\":\"\xff\xfe\"}",
		`{"callback_url":"http://[::1]:80/x"}`, `{"order_id":9007199254740993}`, `{"text":null}`,
	}
	for _, s := range seeds {
		for i := range fuzzRoutes {
			f.Add(i, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, route int, body []byte) {
		if route < 0 || route >= len(fuzzRoutes) {
			return
		}
		b, err := webhook.DecodeBody(fuzzRoutes[route], body)
		if err != nil {
			var fe *webhook.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Problem == "" {
				t.Fatalf("error %v is not a FieldError naming a field", err)
			}
			if n := len(fe.Field) + len(fe.Problem); n > 600 {
				t.Fatalf("error is %d bytes long: %.200s", n, err)
			}
			return
		}
		if b.CallbackURL != "" && !strings.HasPrefix(b.CallbackURL, "http") {
			t.Fatalf("callback_url %q accepted", b.CallbackURL)
		}
		checkCommand(t, fuzzRoutes[route], b)
	})
}

func checkCommand(t *testing.T, route string, b webhook.Body) {
	t.Helper()
	c := b.Command
	price := func(p float64, required bool) bool {
		return !math.IsNaN(p) && p >= 0 && p <= 1000 && (!required || p > 0)
	}
	gpu := func(g string) bool { return g != "" && utf8.RuneCountInString(g) <= 64 }
	switch route {
	case webhook.RouteCreateOrder:
		if c.Name != "rent" || c.Rent == nil || !gpu(c.Rent.GPU) || c.Rent.Count < 1 || c.Rent.Count > 16 ||
			!price(c.Rent.MaxPrice, false) || c.Rent.Hours < 0 || c.Rent.Hours > 8760 || math.IsNaN(c.Rent.Hours) {
			t.Fatalf("create-order accepted %+v", c.Rent)
		}
	case webhook.RouteCancelOrder:
		if c.Name != "cancel" || c.Cancel == nil || c.Cancel.OrderID < 1 || c.Cancel.OrderID > 1<<53 {
			t.Fatalf("cancel-order accepted %+v", c.Cancel)
		}
	case webhook.RoutePriceAlert:
		if c.Name != "watch" || c.Watch == nil || !gpu(c.Watch.GPU) || !price(c.Watch.MaxPrice, true) || c.Watch.Count < 1 || c.Watch.Count > 16 {
			t.Fatalf("price-alert accepted %+v", c.Watch)
		}
	case webhook.RouteStatus:
		if c.Name != "status" || c.Status == nil || c.Status.OrderID < 0 {
			t.Fatalf("status accepted %+v", c.Status)
		}
	case webhook.RouteCommand:
		if c.Name == "" {
			t.Fatalf("command accepted without a name: %+v", c)
		}
	}
}

func TestDecodeAcceptsTheOriginalFields(t *testing.T) {
	b, err := webhook.DecodeBody(webhook.RouteCreateOrder, []byte(`{"gpu_type":"rtx-4090","max_price":0.5,"image":"cloreai/ubuntu22.04-cuda-12.4","use_spot":true,"callback_url":"https://x.example/cb","count":null}`))
	if err != nil || b.Command.Rent.GPU != "RTX 4090" || b.Command.Rent.MaxPrice != 0.5 || !b.Command.Rent.Spot ||
		b.Command.Rent.Count != 1 || b.CallbackURL != "https://x.example/cb" {
		t.Fatalf("create-order = %+v %+v, %v", b, b.Command.Rent, err)
	}
	if b, err := webhook.DecodeBody(webhook.RouteStatus, nil); err != nil || b.Command.Name != "status" {
		t.Fatalf("empty status = %+v, %v", b, err)
	}
	if _, err := webhook.DecodeBody("launch", []byte(`{}`)); err == nil {
		t.Fatal("unknown route decoded")
	}
}
