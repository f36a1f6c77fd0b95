package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clorebot/clorebot/internal/chart"
)

// SpendArgs are the arguments of spend [--since 7d|30d|month] [--by user|team|gpu].
type SpendArgs struct {
	Since string // SpendSince*; "" = month
	By    string // SpendBy*; "" = user
}

// Spend windows and groupings.
const (
	SpendSince7d    = "7d"
	SpendSince30d   = "30d"
	SpendSinceMonth = "month"
	SpendByUser     = "user"
	SpendByTeam     = "team"
	SpendByGPU      = "gpu"
)

var (
	spendWindows = []string{SpendSince7d, SpendSince30d, SpendSinceMonth}
	spendGroups  = []string{SpendByUser, SpendByTeam, SpendByGPU}
)

// NotViaClorebot labels the spend of orders made outside clorebot.
const NotViaClorebot = "not via clorebot"

func parseSpend(pos []string, flags flagValues) (Command, error) {
	if len(pos) > 0 {
		return Command{}, usageErrorf("spend", "spend takes no arguments, only --since and --by; unexpected %s", showValue(pos[0]))
	}
	a := &SpendArgs{}
	if v, ok := flags["since"]; ok {
		a.Since = strings.ToLower(v)
		if !slices.Contains(spendWindows, a.Since) {
			return Command{}, usageErrorf("spend", "--since %s is not a window: use 7d, 30d or month", showValue(v))
		}
	}
	if v, ok := flags["by"]; ok {
		a.By = strings.ToLower(v)
		if !slices.Contains(spendGroups, a.By) {
			return Command{}, usageErrorf("spend", "--by %s is not a grouping: use user, team or gpu", showValue(v))
		}
	}
	return Command{Name: "spend", Spend: a}, nil
}

// SpendReport is the answer of spend: what was spent in a window, grouped,
// what running orders have committed, and the budgets. Every amount is USD
// with fees included, from Clore's own figures.
type SpendReport struct {
	Since, Until time.Time // the window's days, Until excluded (midnights UTC)
	Window       string    // SpendSince*
	By           string    // SpendBy*
	// All: the viewer is an admin and sees everyone's rows; otherwise
	// only their own.
	All      bool
	Viewer   string
	TotalUSD float64
	Rows     []SpendRow // largest first
	Days     []SpendPoint
	// CommittedUSD is what the orders not ended (the viewer's, or
	// everyone's for an admin) will still spend until their end.
	CommittedUSD float64
	Budgets      []BudgetLine
	// At is when the report was made; LedgerAt is not known per row: the
	// ledger is as fresh as the last lifecycle tick.
	At time.Time
}

// SpendRow is one group of a report: an identity, a door or a GPU model.
type SpendRow struct {
	Key string // identity, door or GPU model; "" for orders made outside clorebot
	USD float64
}

// Label is the row's name for people: NotViaClorebot for the outside row.
func (r SpendRow) Label() string {
	if r.Key == "" {
		return NotViaClorebot
	}
	return r.Key
}

// SpendPoint is one UTC day's spend in a report.
type SpendPoint struct {
	Day time.Time
	USD float64
}

// BudgetLine is one budget as a report shows it: this month's spend and
// commitments against it.
type BudgetLine struct {
	Key          string // "policy.monthly_budget_usd", "policy.team_monthly_budget_usd"
	Owner        string // identity; "" for the team
	BudgetUSD    float64
	SpentUSD     float64 // this calendar month
	CommittedUSD float64
	LeftUSD      float64 // budget - spent - committed, never below 0
}

// errNoLedger is spend's answer when the store keeps no ledger.
var errNoLedger = errors.New("commands: the store keeps no spend ledger")

// Spend builds the spend report for the identity viewer (with its platform
// roles): an admin sees everyone's rows and the orders made outside
// clorebot, anyone else their own. It reads the store only.
func (s *Service) Spend(ctx context.Context, viewer string, roles []string, a SpendArgs) (SpendReport, error) {
	ss := s.spendStore()
	if ss == nil {
		return SpendReport{}, errNoLedger
	}
	now := s.clock.Now()
	rep := SpendReport{Window: cmp.Or(a.Since, SpendSinceMonth), By: cmp.Or(a.By, SpendByUser), Viewer: viewer, At: now,
		All: s.policy.Role(viewer, roles...) >= RoleAdmin}
	rep.Since, rep.Until = spendWindow(rep.Window, now)
	owner := viewer
	if rep.All {
		owner = ""
	}
	days, err := ss.SpendDays(ctx, rep.Since, rep.Until, owner)
	if err != nil {
		return rep, fmt.Errorf("commands: spend: %w", err)
	}
	rep.addDays(days)
	committed, err := s.committed(ctx, now)
	if err != nil {
		return rep, err
	}
	for who, v := range committed {
		if rep.All || who == viewer {
			rep.CommittedUSD += v
		}
	}
	if rep.Budgets, err = s.budgetLines(ctx, ss, rep, committed, now); err != nil {
		return rep, err
	}
	return rep, nil
}

// spendWindow is the days of a window ending today (UTC): [since, until).
func spendWindow(window string, now time.Time) (since, until time.Time) {
	until = dayStart(now).AddDate(0, 0, 1)
	switch window {
	case SpendSince7d:
		return until.AddDate(0, 0, -7), until
	case SpendSince30d:
		return until.AddDate(0, 0, -30), until
	}
	return monthStart(now), until
}

// addDays sums days into the report's total, rows and daily points.
func (rep *SpendReport) addDays(days []SpendDay) {
	byKey := map[string]float64{}
	byDay := map[time.Time]float64{}
	for _, d := range days {
		k := d.Owner
		switch rep.By {
		case SpendByTeam:
			k = d.Door
		case SpendByGPU:
			k = d.GPU
			if d.Owner == "" {
				k = "" // outside orders stay one row of their own
			}
		}
		byKey[k] += d.USD
		byDay[d.Day] += d.USD
		rep.TotalUSD += d.USD
	}
	for k, v := range byKey {
		rep.Rows = append(rep.Rows, SpendRow{Key: k, USD: v})
	}
	slices.SortFunc(rep.Rows, func(a, b SpendRow) int {
		return cmp.Or(cmp.Compare(b.USD, a.USD), strings.Compare(a.Key, b.Key))
	})
	for day := rep.Since; day.Before(rep.Until); day = day.AddDate(0, 0, 1) {
		rep.Days = append(rep.Days, SpendPoint{Day: day, USD: byDay[day]})
	}
}

// committed is what each identity's orders not ended will still spend:
// price × time left until their end (an order without one: until the end
// of the month).
func (s *Service) committed(ctx context.Context, now time.Time) (map[string]float64, error) {
	orders, err := s.store.ListOrders(ctx, OrderFilter{States: []string{OrderCreating, OrderProvisioning, OrderRunning, OrderCancelling}})
	if err != nil {
		return nil, fmt.Errorf("commands: spend: %w", err)
	}
	end := monthStart(now).AddDate(0, 1, 0)
	out := map[string]float64{}
	for _, o := range orders {
		until := end
		if o.ExpiresAt != nil {
			until = *o.ExpiresAt
		}
		if left := until.Sub(now).Hours(); left > 0 {
			out[o.RequestedBy] += o.USDPerHour * left
		}
	}
	return out, nil
}

// budgetLines are the budgets the report shows: the team's, and the
// per-identity budget of the viewer (of every identity with spend, for an
// admin).
func (s *Service) budgetLines(ctx context.Context, ss SpendStore, rep SpendReport, committed map[string]float64, now time.Time) ([]BudgetLine, error) {
	p := s.policy
	if !p.budgets() {
		return nil, nil
	}
	spent, err := ss.SpendMonth(ctx, monthStart(now))
	if err != nil {
		return nil, fmt.Errorf("commands: spend: %w", err)
	}
	line := func(key, owner string, budget, spent, committed float64) BudgetLine {
		return BudgetLine{Key: key, Owner: owner, BudgetUSD: budget, SpentUSD: spent, CommittedUSD: committed,
			LeftUSD: max(budget-spent-committed, 0)}
	}
	var out []BudgetLine
	if p.TeamMonthlyBudgetUSD > 0 {
		var sp, cm float64
		for _, v := range spent {
			sp += v
		}
		for _, v := range committed {
			cm += v
		}
		out = append(out, line("policy.team_monthly_budget_usd", "", p.TeamMonthlyBudgetUSD, sp, cm))
	}
	if p.MonthlyBudgetUSD > 0 {
		owners := []string{rep.Viewer}
		if rep.All {
			owners = owners[:0]
			for who := range spent {
				if who != "" {
					owners = append(owners, who)
				}
			}
			for who := range committed {
				if who != "" && !slices.Contains(owners, who) {
					owners = append(owners, who)
				}
			}
			slices.Sort(owners)
		}
		for _, who := range owners {
			out = append(out, line("policy.monthly_budget_usd", who, p.MonthlyBudgetUSD, spent[who], committed[who]))
		}
	}
	return out, nil
}

// handleSpend answers spend in chat (and webhook text): a table of the
// rows and budgets, and a bar chart of the rows.
func (s *Service) handleSpend(ctx context.Context, req Request, a *SpendArgs) Reply {
	if a == nil {
		a = &SpendArgs{}
	}
	rep, err := s.Spend(ctx, req.User, req.Roles, *a)
	if errors.Is(err, errNoLedger) {
		return Reply{Status: StatusError, Text: "spend is not kept by this deployment's store", Visibility: Ephemeral, Done: true}
	}
	if err != nil {
		return s.fail(ctx, "spend", err)
	}
	return rep.Reply()
}

// Reply is the report as a chat reply: a summary, one field per row and
// per budget, and the rows as a bar chart.
func (rep SpendReport) Reply() Reply {
	whose := "Your spend"
	if rep.All {
		whose = "Spend"
	}
	r := Reply{Status: StatusOK, Visibility: Ephemeral, Done: true,
		Title: fmt.Sprintf("%s %s, by %s", whose, rep.windowText(), rep.By)}
	r.Text = fmt.Sprintf("%s spent (fees included, from Clore's figures); %s committed by orders still running, until their end.",
		money(rep.TotalUSD), money(rep.CommittedUSD))
	if len(rep.Rows) == 0 {
		r.Text = fmt.Sprintf("Nothing spent %s; %s committed by orders still running.", rep.windowText(), money(rep.CommittedUSD))
	}
	for _, row := range rep.Rows {
		r.Fields = append(r.Fields, rep.rowField(row))
	}
	for _, b := range rep.Budgets {
		name, whose := "Team budget this month", ""
		if b.Owner != "" {
			name, whose = "Budget of "+b.Owner, Mention(b.Owner)+": "
			if b.Owner == rep.Viewer && !rep.All {
				name, whose = "Your budget this month", ""
			}
		}
		r.Fields = append(r.Fields, Field{Name: name, Value: fmt.Sprintf("%s%s left of %s (spent %s, committed %s)",
			whose, money(b.LeftUSD), money(b.BudgetUSD), money(b.SpentUSD), money(b.CommittedUSD))})
	}
	r.Image = rep.Chart(chart.Large)
	return r
}

// rowField is a row in chat: its label, and its spend and share (after
// a mention of the identity, which chat shows as the user's name; field
// names are plain text).
func (rep SpendReport) rowField(row SpendRow) Field {
	v := fmt.Sprintf("%s (%s)", money(row.USD), share(row.USD, rep.TotalUSD))
	if rep.By == SpendByUser && row.Key != "" {
		v = Mention(row.Key) + ": " + v
	}
	return Field{Name: row.Label(), Value: v, Short: true}
}

// windowText says the window in words.
func (rep SpendReport) windowText() string {
	switch rep.Window {
	case SpendSince7d:
		return "in the last 7 days"
	case SpendSince30d:
		return "in the last 30 days"
	}
	return "this month (" + rep.Since.Format("January 2006") + ", UTC)"
}

// Chart is the rows as a bar chart, nil when there is nothing to draw or
// the renderer fails (the table still says everything).
func (rep SpendReport) Chart(size chart.Size) *Image {
	b := chart.Bars{Title: fmt.Sprintf("Spend %s by %s", rep.windowText(), rep.By), Unit: "USD"}
	for _, row := range rep.Rows {
		b.Bars = append(b.Bars, chart.Bar{Label: row.Label(), Value: row.USD})
	}
	png, err := chart.RenderBars(b, size)
	if err != nil {
		return nil
	}
	return &Image{Name: "spend.png", PNG: png, Alt: fmt.Sprintf("Bar chart: %s, %d rows, %s in all", b.Title, len(b.Bars), money(rep.TotalUSD))}
}

// share is part of whole as a percentage.
func share(part, whole float64) string {
	if whole <= 0 {
		return "0 %"
	}
	return fmt.Sprintf("%.0f %%", part/whole*100)
}

// SpendJSON is a report as machine answers carry it (`spend --json`):
// DESIGN §5's vocabulary, money in USD rounded to 4 decimals, times RFC
// 3339 UTC, absent values null.
type SpendJSON struct {
	Since        time.Time        `json:"since"`
	Until        time.Time        `json:"until"`
	Window       string           `json:"window"`
	By           string           `json:"by"`
	All          bool             `json:"all"` // everyone's rows (an admin's view), else the viewer's own
	TotalUSD     float64          `json:"total_usd"`
	CommittedUSD float64          `json:"committed_usd"`
	Rows         []SpendRowJSON   `json:"rows"`
	Days         []SpendDayJSON   `json:"days"`
	Budgets      []BudgetLineJSON `json:"budgets"`
	At           time.Time        `json:"at"`
}

// SpendRowJSON is one row: key is the identity, door or GPU model; null
// for the orders made outside clorebot.
type SpendRowJSON struct {
	Key         *string `json:"key"`
	USD         float64 `json:"usd"`
	ViaClorebot bool    `json:"via_clorebot"`
}

// SpendDayJSON is one UTC day's spend.
type SpendDayJSON struct {
	Day string  `json:"day"` // "2026-12-06"
	USD float64 `json:"usd"`
}

// BudgetLineJSON is one budget; owner is null for the team's.
type BudgetLineJSON struct {
	Key          string  `json:"key"`
	Owner        *string `json:"owner"`
	BudgetUSD    float64 `json:"budget_usd"`
	SpentUSD     float64 `json:"spent_usd"`
	CommittedUSD float64 `json:"committed_usd"`
	LeftUSD      float64 `json:"left_usd"`
}

// JSON is the report in the machine vocabulary.
func (rep SpendReport) JSON() SpendJSON {
	out := SpendJSON{Since: rep.Since.UTC(), Until: rep.Until.UTC(), Window: rep.Window, By: rep.By, All: rep.All,
		TotalUSD: RoundUSD(rep.TotalUSD), CommittedUSD: RoundUSD(rep.CommittedUSD), At: rep.At.UTC().Truncate(time.Second),
		Rows: []SpendRowJSON{}, Days: []SpendDayJSON{}, Budgets: []BudgetLineJSON{}}
	for _, r := range rep.Rows {
		row := SpendRowJSON{USD: RoundUSD(r.USD), ViaClorebot: r.Key != "" || rep.By == SpendByGPU}
		if r.Key != "" {
			k := r.Key
			row.Key = &k
		}
		out.Rows = append(out.Rows, row)
	}
	for _, d := range rep.Days {
		out.Days = append(out.Days, SpendDayJSON{Day: d.Day.Format("2006-01-02"), USD: RoundUSD(d.USD)})
	}
	for _, b := range rep.Budgets {
		line := BudgetLineJSON{Key: b.Key, BudgetUSD: RoundUSD(b.BudgetUSD), SpentUSD: RoundUSD(b.SpentUSD),
			CommittedUSD: RoundUSD(b.CommittedUSD), LeftUSD: RoundUSD(b.LeftUSD)}
		if b.Owner != "" {
			o := b.Owner
			line.Owner = &o
		}
		out.Budgets = append(out.Budgets, line)
	}
	return out
}

// CSV is the report's rows as CSV records, a header first: the group's
// key (NotViaClorebot for the orders made outside clorebot) and USD.
func (rep SpendReport) CSV() [][]string {
	out := [][]string{{rep.By, "usd"}}
	for _, r := range rep.Rows {
		out = append(out, []string{r.Label(), fmt.Sprintf("%.4f", r.USD)})
	}
	return out
}
