package sandbox

import (
	"net/http"
	"path/filepath"
	"sync"
	"testing"
)

// twoInstances starts two Servers on one state file, as two processes would.
func twoInstances(t *testing.T) (a, b *sandbox) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	a = newSandbox(t, Options{StatePath: path})
	b = newSandbox(t, Options{StatePath: path, Now: a.clock.Now})
	b.clock = a.clock
	return a, b
}

func TestSharedStateAcrossInstances(t *testing.T) {
	a, b := twoInstances(t)
	s := a.freeServer(t, currencyUSD, "")
	if r := a.post(t, "/v1/create_order", orderBody(s.ID)); r.code() != 0 {
		t.Fatalf("create on a: %s", r.raw)
	}
	oa, ob := a.orders(t, false), b.orders(t, false)
	if len(ob) != 1 || ob[0]["id"] != oa[0]["id"] {
		t.Fatalf("b sees %v, a sees %v", ob, oa)
	}
	if r := b.post(t, "/v1/create_order", orderBody(s.ID)); r.body["error"] != "server-already-rented" {
		t.Errorf("create on b of a's server: %s", r.raw)
	}
	if ba, bb := a.balance(t, currencyUSD), b.balance(t, currencyUSD); ba != bb || ba >= 500 {
		t.Errorf("balances a %v b %v", ba, bb)
	}
	b.srv.RentByOther(a.freeServer(t, currencyUSD, "").ID)
	if r := b.post(t, "/v1/cancel_order", map[string]any{"id": oa[0]["id"]}); r.code() != 0 {
		t.Fatalf("cancel on b: %s", r.raw)
	}
	if n := len(a.orders(t, false)); n != 0 {
		t.Errorf("a still sees %d active orders", n)
	}
}

func TestConcurrentCreatesOneWinner(t *testing.T) {
	a, b := twoInstances(t)
	s := a.freeServer(t, currencyUSD, "")
	const n = 10
	var wg sync.WaitGroup
	results := make(chan response, n)
	for i := range n {
		sb := a
		if i%2 == 1 {
			sb = b
		}
		wg.Go(func() {
			r, err := send(sb.ts, http.MethodPost, "/v1/create_order", testKey, orderBody(s.ID))
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
	}
	wg.Wait()
	close(results)
	wins, rented := 0, 0
	for r := range results {
		switch {
		case r.status == 200 && string(r.raw) == `{"code":0}`:
			wins++
		case r.status == 200 && r.body["error"] == "server-already-rented":
			rented++
		default:
			t.Errorf("unexpected answer %d %s", r.status, r.raw)
		}
	}
	if wins != 1 || rented != n-1 {
		t.Errorf("%d successes and %d server-already-rented, want 1 and %d", wins, rented, n-1)
	}
	if got := len(a.orders(t, false)); got != 1 {
		t.Errorf("%d orders stored, want 1", got)
	}
}
