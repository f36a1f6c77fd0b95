package sandbox

import (
	"context"
	"crypto/sha256"
	"net/http"
)

// walletJSON is one entry of the wallets answer.
type walletJSON struct {
	Name          string  `json:"name"`
	Deposit       string  `json:"deposit"`
	Balance       float64 `json:"balance"`
	WithdrawalFee float64 `json:"withdrawal_fee"`
}

// walletsBody is the wallets answer.
type walletsBody struct {
	Wallets []walletJSON `json:"wallets"`
	Code    int          `json:"code"`
}

// handleWallets serves GET /v1/wallets: balance = initial − creation fees −
// spend of all orders, per currency.
func (s *Server) handleWallets(ctx context.Context, c call) answer {
	balances, err := s.store.balances(ctx, c.keyHash, c.now.UnixMilli())
	if err != nil {
		return internalError(err)
	}
	fees := map[string]float64{currencyBTC: 0.0001, currencyCLORE: 10, currencyUSD: 1}
	body := walletsBody{}
	for _, cur := range walletCurrencies() {
		body.Wallets = append(body.Wallets, walletJSON{
			Name:          cur,
			Deposit:       depositAddress(c.keyHash, cur),
			Balance:       round(balances[cur], 8),
			WithdrawalFee: fees[cur],
		})
	}
	return jsonAnswer(http.StatusOK, 0, body)
}

// depositAddress derives a stable, realistic-looking deposit address of a
// key's wallet: bech32-like for bitcoin, base58-like for CLORE, 0x-hex for
// USD (ASSUMPTION: the real USD-Blockchain deposit format is unknown).
func depositAddress(keyHash, currency string) string {
	sum := sha256.Sum256([]byte(keyHash + "/" + currency))
	pick := func(prefix, alphabet string, n int) string {
		b := []byte(prefix)
		for i := range n {
			b = append(b, alphabet[int(sum[i%len(sum)]+byte(i/len(sum)*7))%len(alphabet)])
		}
		return string(b)
	}
	switch currency {
	case currencyBTC:
		return pick("bc1q", "qpzry9x8gf2tvdw0s3jn54khce6mua7l", 38)
	case currencyCLORE:
		return pick("A", "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 33)
	default:
		return pick("0x", "0123456789abcdef", 40)
	}
}

// handleMarketplace serves GET /v1/marketplace: the whole list, rendered
// for the current time with sandbox orders and overrides marked rented.
func (s *Server) handleMarketplace(ctx context.Context, c call) answer {
	busy, err := s.store.busyServers(ctx, c.now.UnixMilli())
	if err != nil {
		return internalError(err)
	}
	return answer{status: http.StatusOK, code: 0, body: s.market.renderMarketplace(c.now, busy, s.hooks.ownServers())}
}
