package sandbox

import (
	"context"
	"fmt"
)

// walletCurrencies lists the wallets every key has, in the order rendered.
func walletCurrencies() []string {
	return []string{currencyBTC, currencyCLORE, currencyUSD}
}

// ensureWallets creates the wallets of a key on first use.
func (st *store) ensureWallets(ctx context.Context, q querier, keyHash string) error {
	for _, c := range walletCurrencies() {
		_, err := q.ExecContext(ctx,
			"INSERT OR IGNORE INTO wallets (key_hash, currency, balance) VALUES (?, ?, ?)",
			keyHash, c, st.initial[c])
		if err != nil {
			return fmt.Errorf("ensure wallets: %w", err)
		}
	}
	return nil
}

// balance is a wallet's balance at nowMS: the stored balance (initial minus
// creation fees) minus what the key's orders in that currency have spent.
func (st *store) balance(ctx context.Context, q querier, keyHash, currency string, nowMS int64) (float64, error) {
	if err := st.ensureWallets(ctx, q, keyHash); err != nil {
		return 0, err
	}
	var stored float64
	err := q.QueryRowContext(ctx, "SELECT balance FROM wallets WHERE key_hash = ? AND currency = ?",
		keyHash, currency).Scan(&stored)
	if err != nil {
		return 0, fmt.Errorf("balance: %w", err)
	}
	orders, err := queryOrders(ctx, q, "key_hash = ? AND currency = ?", keyHash, currency)
	if err != nil {
		return 0, fmt.Errorf("balance: %w", err)
	}
	for _, o := range orders {
		stored -= o.spendAt(nowMS)
	}
	return stored, nil
}

// balances returns every wallet balance of a key at nowMS.
func (st *store) balances(ctx context.Context, keyHash string, nowMS int64) (map[string]float64, error) {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sandbox: wallets: %w", err)
	}
	defer tx.Rollback()
	out := make(map[string]float64, 3)
	for _, c := range walletCurrencies() {
		b, err := st.balance(ctx, tx, keyHash, c, nowMS)
		if err != nil {
			return nil, fmt.Errorf("sandbox: wallets: %w", err)
		}
		out[c] = b
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sandbox: wallets: %w", err)
	}
	return out, nil
}
