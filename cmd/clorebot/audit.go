package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// auditCmd prints the audit log.
type auditCmd struct {
	Since string `help:"Only rows since this long ago (24h, 7d) or this time (RFC 3339)." default:"24h"`
	JSON  bool   `help:"One JSON object per line."`
	Limit int    `help:"At most this many rows, the newest (0 = all)." default:"1000"`
}

// auditRow is an audit entry as `audit --json` prints it (the command
// line's one snake_case schema).
type auditRow struct {
	ID         int64      `json:"id"`
	At         *time.Time `json:"at"`
	Actor      string     `json:"actor"`
	Platform   string     `json:"platform"`
	Channel    *string    `json:"channel"`
	Command    string     `json:"command"`
	Outcome    string     `json:"outcome"`
	OrderID    *int64     `json:"order_id"`
	USDPerHour *float64   `json:"usd_per_hour"`
	Detail     *string    `json:"detail"`
}

// newAuditRow is r in the vocabulary of machine answers: UTC seconds,
// rounded USD, null for what is absent.
func newAuditRow(r commands.AuditEntry) auditRow {
	return auditRow{ID: r.ID, At: commands.UTCTime(r.At), Actor: r.Actor, Platform: r.Platform,
		Channel: commands.Nullable(r.Channel), Command: r.Command, Outcome: r.Outcome, OrderID: r.OrderID,
		USDPerHour: usdPtr(r.USDPerHour), Detail: commands.Nullable(r.Detail)}
}

// Run prints the rows, newest first, and says when --limit cut older ones.
func (a auditCmd) Run(e *env) error {
	since, err := parseSince(a.Since, time.Now())
	if err != nil {
		return &usageError{fmt.Errorf("--since: %w", err)}
	}
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	st, err := openMigrated(e.ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	f := commands.AuditFilter{Since: since, NewestFirst: true}
	if a.Limit > 0 {
		f.Limit = a.Limit + 1 // one more tells whether rows were left out
	}
	rows, err := st.ListAudit(e.ctx, f)
	if err != nil {
		return err
	}
	truncated := a.Limit > 0 && len(rows) > a.Limit
	if truncated {
		rows = rows[:a.Limit]
		defer fmt.Fprintf(e.stderr, "truncated: showing the newest %d rows since %s; older ones exist (raise --limit, 0 = all, or narrow --since)\n",
			a.Limit, since.UTC().Format(time.RFC3339))
	}
	if a.JSON {
		enc := json.NewEncoder(e.stdout)
		for _, r := range rows {
			if err := enc.Encode(newAuditRow(r)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tWHERE\tCOMMAND\tOUTCOME\tORDER\tUSD/H\tDETAIL")
	for _, r := range rows {
		order, price := "", ""
		if r.OrderID != nil {
			order = fmt.Sprint(*r.OrderID)
		}
		if r.USDPerHour != nil {
			price = fmt.Sprintf("%.3f", *r.USDPerHour)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), r.Actor,
			strings.TrimSpace(r.Platform+" "+r.Channel), r.Command, r.Outcome, order, price, r.Detail)
	}
	return tw.Flush()
}

// parseSince reads "24h", "7d", "1d12h" or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	days := time.Duration(0)
	if d, rest, ok := strings.Cut(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", s)
		}
		days, s = time.Duration(n)*24*time.Hour, rest
	}
	var d time.Duration
	if s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", s)
		}
	}
	return now.Add(-(days + d)), nil
}
