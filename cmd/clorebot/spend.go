package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/chart"
)

// spendCmd prints the spend report (DESIGN §6): what orders spent, from
// Clore's own figures kept by `serve`'s ledger, per identity, door or GPU,
// with the budgets. It reads the database only: it never calls Clore.
type spendCmd struct {
	Since string `help:"Window: 7d, 30d or month (this calendar month, UTC)." default:"month" enum:"7d,30d,month"`
	By    string `help:"Rows per user, team (the door rents came from) or gpu." default:"user" enum:"user,team,gpu"`
	JSON  bool   `help:"Print the report as one JSON object." xor:"format"`
	CSV   bool   `name:"csv" help:"Print the rows as CSV." xor:"format"`
	Chart string `help:"Also write the rows as a bar chart to this PNG file." placeholder:"FILE.png" type:"path"`
}

// Run prints the report as the identity cli:<OS user> sees it (an admin
// unless the policy lists name cli identities).
func (c spendCmd) Run(e *env) error {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	st, err := openMigrated(e.ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := commands.New(commands.Options{Store: st, Policy: policyFrom(cfg)})
	rep, err := svc.Spend(e.ctx, cliIdentity(), nil, commands.SpendArgs{Since: c.Since, By: c.By})
	if err != nil {
		return err
	}
	if c.Chart != "" {
		if err := writeChart(c.Chart, rep); err != nil {
			return err
		}
	}
	switch {
	case c.JSON:
		return json.NewEncoder(e.stdout).Encode(rep.JSON()) // one line, as audit --json
	case c.CSV:
		w := csv.NewWriter(e.stdout)
		if err := w.WriteAll(rep.CSV()); err != nil {
			return err
		}
		return w.Error()
	}
	printSpend(e, rep)
	return nil
}

// writeChart writes the report's bar chart to path.
func writeChart(path string, rep commands.SpendReport) error {
	img := rep.Chart(chart.Large)
	if img == nil {
		return &usageError{errors.New("--chart: nothing to draw: no spend in the window")}
	}
	if err := os.WriteFile(path, img.PNG, 0o644); err != nil {
		return fmt.Errorf("--chart: %w", err)
	}
	return nil
}

// printSpend prints the report as a table.
func printSpend(e *env, rep commands.SpendReport) {
	r := rep.Reply()
	fmt.Fprintln(e.stdout, r.Title)
	fmt.Fprintln(e.stdout, r.Text)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tUSD\n", rep.By)
	for _, row := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%.2f\n", row.Label(), row.USD)
	}
	tw.Flush()
	for _, b := range rep.Budgets {
		who := "team"
		if b.Owner != "" {
			who = b.Owner
		}
		fmt.Fprintf(e.stdout, "budget %s (%s): %.2f left of %.2f (spent %.2f, committed %.2f)\n",
			who, b.Key, b.LeftUSD, b.BudgetUSD, b.SpentUSD, b.CommittedUSD)
	}
}
