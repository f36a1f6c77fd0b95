package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

// execLine is one line of `exec --json`, in the vocabulary of every
// machine answer (commands' shapes; docs/schema/exec-line.json). Type is
// reply (the command's answer), progress (a job update), heartbeat,
// pending (a rent awaiting confirmation), ends (who cancels a rented order
// at its end), interrupted or note; a job's end is a resultLine. The chat
// text of a reply is its message.
type execLine struct {
	Type           string                  `json:"type"`
	Status         string                  `json:"status,omitempty"`
	JobID          string                  `json:"job_id,omitempty"`
	Kind           string                  `json:"kind,omitempty"`
	State          string                  `json:"state,omitempty"`
	Step           string                  `json:"step,omitempty"`
	OrderID        *int64                  `json:"order_id,omitempty"`
	USDPerHour     *float64                `json:"usd_per_hour,omitempty"`
	ElapsedSeconds *int64                  `json:"elapsed_seconds,omitempty"`
	Deadline       *time.Time              `json:"deadline,omitempty"`
	EndsAt         *time.Time              `json:"ends_at,omitempty"`
	CancelledBy    *serveRef               `json:"cancelled_by,omitempty"`
	Title          string                  `json:"title,omitempty"`
	Message        string                  `json:"message,omitempty"`
	Usage          string                  `json:"usage,omitempty"`
	Fields         []commands.Field        `json:"fields,omitempty"`
	Orders         []commands.OrderInfo    `json:"orders,omitempty"`
	Models         []commands.MarketModel  `json:"models,omitempty"`
	History        []commands.PriceHistory `json:"history,omitempty"`
	ConfirmCommand string                  `json:"confirm_command,omitempty"`
	Commands       map[string]string       `json:"commands,omitempty"`
	Private        *privateLine            `json:"private,omitempty"`
	Done           *bool                   `json:"done,omitempty"`
}

// resultLine is a job's end: the job's machine shape (commands.JobInfo),
// its order's ssh for the requester of a rent.
type resultLine struct {
	Type string `json:"type"`
	commands.JobInfo
}

// privateLine is a reply's private part (connection details): for the
// requester's terminal only.
type privateLine struct {
	Title   string                `json:"title,omitempty"`
	Message string                `json:"message,omitempty"`
	Fields  []commands.Field      `json:"fields,omitempty"`
	SSH     *commands.SSHEndpoint `json:"ssh,omitempty"`
}

func newPrivateLine(p *commands.PrivatePart) *privateLine {
	if p == nil {
		return nil
	}
	l := &privateLine{Title: p.Title, Message: p.Text, Fields: p.Fields}
	if e, ok := p.SSH(); ok {
		l.SSH = &e
	}
	return l
}

// serveRef is the running serve that cancels an order at its end.
type serveRef struct {
	PID  int    `json:"pid"`
	Host string `json:"host"`
}

// orderRow is an order as `exec --json status` prints it.
type orderRow struct {
	OrderID     *int64     `json:"order_id"`
	ServerID    int64      `json:"server_id"`
	GPU         string     `json:"gpu"`
	GPUCount    int        `json:"gpu_count"`
	State       string     `json:"state"`
	USDPerHour  float64    `json:"usd_per_hour"`
	Spot        bool       `json:"spot"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RequestedBy string     `json:"requested_by"`
}

// execOutput prints what exec has to say, as text for people or as JSON
// lines for scripts. Jobs report from the worker, heartbeats from a ticker:
// a mutex keeps lines whole.
type execOutput struct {
	w    io.Writer
	json bool
	// followUp is the command line that runs an exec command (e.g.
	// "cancel 5") as this one ran: with its --config, --sandbox and --as,
	// so that a printed follow-up works when pasted. nil: plain.
	followUp func(args string) string

	mu       sync.Mutex
	jobShown bool // "job <id>" is printed once
	private  *commands.PrivatePart
}

func (o *execOutput) emit(l any) {
	b, _ := json.Marshal(l)
	fmt.Fprintln(o.w, string(b))
}

// reply prints the command's answer: market and status as tables.
func (o *execOutput) reply(ctx context.Context, svc *commands.Service, req commands.Request, r commands.Reply) {
	var orders []orderRow
	var models []commands.ModelSummary
	if r.Status == commands.StatusOK && len(r.Fields) > 0 {
		if cmd, err := commands.Parse(req.Text); err == nil {
			switch cmd.Name {
			case "market":
				models = marketModels(ctx, svc, r)
			case "status":
				if !o.json {
					orders = statusOrders(ctx, svc, req.User, cmd.Status.OrderID)
				}
			}
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		l := replyLine("reply", r)
		l.Orders = r.Orders
		if len(r.Orders) == 1 && l.Private != nil && l.Private.SSH != nil {
			// The renter's `status <order-id>`: the order's connection.
			withSSH := r.Orders[0]
			withSSH.SSH = l.Private.SSH
			l.Orders = []commands.OrderInfo{withSSH}
		}
		if models != nil {
			l.Models = commands.NewMarketModels(models)
		}
		l.History = r.History
		if r.Status == commands.StatusConfirm {
			l.ConfirmCommand = o.exec("confirm " + r.JobID)
		}
		l.Message = o.withFlags(l.Message)
		o.emit(l)
		return
	}
	switch {
	case models != nil:
		fmt.Fprint(o.w, renderHead(r))
		writeMarketTable(o.w, models)
	case orders != nil:
		fmt.Fprint(o.w, renderHead(r))
		writeStatusTable(o.w, orders, r, time.Now())
		fmt.Fprint(o.w, o.renderButtons(r))
		fmt.Fprint(o.w, renderPrivate(r.Private)) // the renter's `status <order-id>`: connection details
	default:
		fmt.Fprint(o.w, o.renderText(r))
	}
}

// progress prints a job's update; the connection details are kept for the
// result line.
func (o *execOutput) progress(r commands.Reply) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Private != nil {
		o.private = r.Private
	}
	if o.json {
		l := replyLine("progress", r)
		l.Message = o.withFlags(l.Message)
		o.emit(l)
		return
	}
	fmt.Fprint(o.w, o.renderText(r))
}

// heartbeat says the job is alive: elapsed time and, while provisioning,
// the deadline.
func (o *execOutput) heartbeat(v commands.JobView, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	elapsed := now.Sub(v.CreatedAt).Round(time.Second)
	if o.json {
		secs := int64(elapsed / time.Second)
		l := execLine{Type: "heartbeat", JobID: v.JobID, Kind: v.Kind, State: v.State, Step: v.Step,
			OrderID: v.CloreOrderID, ElapsedSeconds: &secs, Deadline: commands.UTCTime(v.Deadline)}
		o.emit(l)
		return
	}
	what := fmt.Sprintf("job %s is %s", v.JobID, v.State)
	if v.CloreOrderID != nil {
		what = fmt.Sprintf("order #%d is provisioning", *v.CloreOrderID)
	}
	line := fmt.Sprintf("… %s: %s elapsed", what, elapsed)
	if !v.Deadline.IsZero() {
		line += fmt.Sprintf(", deadline %s (in %s; cancelled if not online by then)",
			v.Deadline.UTC().Format("15:04:05 MST"), v.Deadline.Sub(now).Round(time.Second))
	}
	fmt.Fprintln(o.w, line)
}

// pending reports a rent that awaits confirmation (JSON only: the text
// reply already shows the confirm command).
func (o *execOutput) pending(jobID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		o.emit(execLine{Type: "pending", JobID: jobID, Kind: commands.JobRent,
			State: commands.JobAwaitingConfirmation, ConfirmCommand: o.exec("confirm " + jobID)})
	}
}

// result is the job's end, structured (JSON only: in text the last progress
// reply said it): the job's machine shape, its order with the connection
// details a succeeded rent printed.
func (o *execOutput) result(job commands.JobInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.json {
		return
	}
	if e, ok := o.private.SSH(); ok && job.State == commands.JobSucceeded && job.Order != nil {
		order := *job.Order
		order.SSH = &e
		job.Order = &order
	}
	o.emit(resultLine{Type: "result", JobInfo: job})
}

// interrupted says what is still running after Ctrl-C and how to follow or
// cancel it.
func (o *execOutput) interrupted(v commands.JobView) {
	o.mu.Lock()
	defer o.mu.Unlock()
	cmds := map[string]string{}
	var msg string
	switch {
	case v.State == commands.JobCancelled:
		msg = fmt.Sprintf("interrupted: job %s stopped before anything was rented; nothing will be.", v.JobID)
	case commands.Terminal(v.State):
		msg = fmt.Sprintf("interrupted: job %s had already ended (%s).", v.JobID, v.State)
	case v.CloreOrderID != nil && v.Kind == commands.JobRent:
		id := *v.CloreOrderID
		cmds["follow"], cmds["cancel"] = o.exec(fmt.Sprintf("status %d", id)), o.exec(fmt.Sprintf("cancel %d", id))
		msg = fmt.Sprintf("interrupted: order #%d (job %s) is still provisioning at Clore and is billed", id, v.JobID)
		if v.USDPerHour != nil {
			msg += fmt.Sprintf(" at $%.3f/h", *v.USDPerHour)
		}
		msg += ".\n  A running `clorebot serve` on this database finishes the job (the next one does otherwise);" +
			fmt.Sprintf("\n  once the order runs, `%s` shows its connection details (as this user).", cmds["follow"])
	case v.OrderMayExist:
		cmds["follow"] = o.exec("status")
		msg = fmt.Sprintf("interrupted: job %s may already have ordered a server (create_order was sent).\n"+
			"  `clorebot serve` on this database resumes it and finds the order before anything else; "+
			"`%s` shows its connection details once it runs; "+
			"cancel it with `%s` if you do not want it.", v.JobID, o.exec("status <order-id>"), o.exec("cancel <order-id>"))
	default:
		msg = fmt.Sprintf("interrupted: job %s (%s) is still %s.", v.JobID, v.Kind, v.State)
		if v.CloreOrderID != nil {
			cmds["follow"] = o.exec(fmt.Sprintf("status %d", *v.CloreOrderID))
		}
		msg += "\n  A running `clorebot serve` on this database finishes it (the next one does otherwise)."
	}
	if o.json {
		o.emit(execLine{Type: "interrupted", JobID: v.JobID, Kind: v.Kind, State: v.State, Step: v.Step,
			OrderID: v.CloreOrderID, USDPerHour: usdPtr(v.USDPerHour), Message: msg, Commands: cmds})
		return
	}
	fmt.Fprintln(o.w, msg)
	for _, k := range []string{"follow", "cancel"} {
		if c, ok := cmds[k]; ok {
			fmt.Fprintf(o.w, "  %s: %s\n", k, c)
		}
	}
}

// ends says who cancels order id at end: serve when alive, else nobody
// until a serve runs on the database, and cancel is the command that
// cancels it by hand.
func (o *execOutput) ends(id int64, end time.Time, serve storage.ServeProcess, alive bool, cancel string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	end = end.UTC()
	when := end.Format("2006-01-02 15:04 MST")
	l := execLine{Type: "ends", OrderID: &id, EndsAt: commands.UTCTime(end)}
	if alive {
		l.CancelledBy = &serveRef{PID: serve.PID, Host: serve.Host}
		l.Message = fmt.Sprintf("clorebot serve (%s) runs on this database and will cancel order #%d at %s.", describeServe(serve), id, when)
	} else {
		l.Commands = map[string]string{"cancel": cancel}
		l.Message = fmt.Sprintf("Nothing will cancel order #%d at %s: no `clorebot serve` runs on this database. "+
			"It stays rented and billed until a serve runs here (it cancels orders past their end) or you cancel it yourself.", id, when)
	}
	if o.json {
		o.emit(l)
		return
	}
	fmt.Fprintln(o.w, l.Message)
	if !alive {
		fmt.Fprintf(o.w, "  cancel: %s\n", cancel)
	}
}

// note is a remark of the command line itself.
func (o *execOutput) note(text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		o.emit(execLine{Type: "note", Message: text})
		return
	}
	fmt.Fprintln(o.w, text)
}

func replyLine(typ string, r commands.Reply) execLine {
	done := r.Done
	return execLine{Type: typ, Status: r.Status, JobID: r.JobID, Title: r.Title, Message: r.Text, Usage: r.Usage,
		Fields: r.Fields, Private: newPrivateLine(r.Private), Done: &done}
}

// usdPtr is *v rounded as every USD figure of a machine answer; nil stays nil.
func usdPtr(v *float64) *float64 {
	if v == nil {
		return nil
	}
	return commands.USD(*v)
}

// exec is the command line of exec command args (followUp).
func (o *execOutput) exec(args string) string {
	if o.followUp == nil {
		return strings.TrimSuffix("clorebot exec "+args, " ")
	}
	return o.followUp(args)
}

// withFlags gives the exec commands a reply's text names (`clorebot exec
// status 5`: the command layer knows no flags) this process's flags.
func (o *execOutput) withFlags(text string) string {
	if text == "" || o.followUp == nil {
		return text
	}
	prefix := o.exec("")
	if prefix == "clorebot exec" {
		return text
	}
	return strings.ReplaceAll(text, "`clorebot exec ", "`"+prefix+" ")
}

// renderText is a reply for a terminal: the job id only the first time.
func (o *execOutput) renderText(r commands.Reply) string {
	var b strings.Builder
	r.Text = o.withFlags(r.Text)
	b.WriteString(renderHead(r))
	if len(r.Fields) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, f := range r.Fields {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Name, f.Value)
		}
		_ = tw.Flush()
	}
	if r.Usage != "" {
		fmt.Fprintf(&b, "usage: %s\n", strings.ReplaceAll(r.Usage, "\n", "\n       "))
	}
	b.WriteString(o.renderButtons(r))
	b.WriteString(renderPrivate(r.Private))
	if r.JobID != "" && !o.jobShown {
		o.jobShown = true
		fmt.Fprintf(&b, "job %s\n", r.JobID)
	}
	return b.String()
}

// renderPrivate is a reply's private part for the requester's terminal
// ("" for none).
func renderPrivate(p *commands.PrivatePart) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	if p.Title != "" {
		fmt.Fprintf(&b, "%s (only you see this)\n", p.Title)
	}
	if p.Text != "" {
		fmt.Fprintf(&b, "  %s\n", p.Text)
	}
	for _, f := range p.Fields {
		fmt.Fprintf(&b, "  %s: %s\n", f.Name, f.Value)
	}
	return b.String()
}

// renderHead is a reply's title and text.
func renderHead(r commands.Reply) string {
	var b strings.Builder
	if r.Title != "" {
		fmt.Fprintln(&b, r.Title)
	}
	if r.Text != "" {
		switch r.Status {
		case commands.StatusError, commands.StatusFailed:
			b.WriteString("error: ")
		case commands.StatusDenied:
			b.WriteString("denied: ")
		}
		fmt.Fprintln(&b, r.Text)
	}
	return b.String()
}

// renderButtons turns buttons into the commands that do the same here.
func (o *execOutput) renderButtons(r commands.Reply) string {
	var b strings.Builder
	for _, btn := range r.Buttons {
		kind, arg, _ := strings.Cut(btn.ActionID, ":")
		switch kind {
		case "rent", "confirm":
			job := cmpOr(btn.Value, r.JobID, arg)
			if kind == "confirm" {
				job = arg
			}
			fmt.Fprintf(&b, "  %s: %s\n", btn.Label, o.exec("confirm "+job))
		case "cancel", "extend":
			fmt.Fprintf(&b, "  %s: %s\n", btn.Label, o.exec(kind+" "+arg))
		default:
			fmt.Fprintf(&b, "  [%s] (%s)\n", btn.Label, btn.ActionID)
		}
	}
	return b.String()
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// marketModels is the structured form of a market reply: the summaries of
// the models it lists, from the same snapshot.
func marketModels(ctx context.Context, svc *commands.Service, r commands.Reply) []commands.ModelSummary {
	all, err := svc.Market(ctx)
	if err != nil {
		return nil
	}
	var out []commands.ModelSummary
	for _, m := range all {
		if slices.ContainsFunc(r.Fields, func(f commands.Field) bool { return f.Name == m.Model }) {
			out = append(out, m)
		}
	}
	return out
}

// statusOrders is the structured form of a status reply.
func statusOrders(ctx context.Context, svc *commands.Service, user string, id int64) []orderRow {
	orders, err := svc.VisibleOrders(ctx, user, id)
	if err != nil || len(orders) == 0 {
		return nil
	}
	out := make([]orderRow, 0, len(orders))
	for _, o := range orders {
		row := orderRow{OrderID: o.CloreOrderID, ServerID: o.ServerID, GPU: o.GPUModel, GPUCount: o.GPUCount,
			State: o.State, USDPerHour: o.USDPerHour, Spot: o.Spot, CreatedAt: o.CreatedAt.UTC(), RequestedBy: o.RequestedBy}
		if o.ExpiresAt != nil {
			t := o.ExpiresAt.UTC()
			row.ExpiresAt = &t
		}
		out = append(out, row)
	}
	return out
}

// writeMarketTable prints the marketplace as an aligned table.
func writeMarketTable(w io.Writer, models []commands.ModelSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tFREE\tTOTAL\tFROM $/GPU/H\tSPOT\tRELIABLE\t")
	price := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", v)
	}
	for _, m := range models {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", m.Model, m.Available, m.Total, price(m.OnDemand), price(m.Spot), price(m.Reliable))
	}
	_ = tw.Flush()
}

// writeStatusTable prints orders as an aligned table; the spend (USD, from
// Clore's live figures) is read from the reply's line for the order.
func writeStatusTable(w io.Writer, orders []orderRow, r commands.Reply, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tGPU\tSTATE\tUSD/H\tSPENT\tLEFT\tBY")
	for _, o := range orders {
		id := "(pending)"
		if o.OrderID != nil {
			id = "#" + strconv.FormatInt(*o.OrderID, 10)
		}
		spent, left := "-", "-"
		for _, f := range r.Fields {
			if !strings.HasPrefix(f.Name, id+" ") {
				continue
			}
			for part := range strings.SplitSeq(f.Value, " · ") {
				if s, ok := strings.CutPrefix(part, "spent "); ok {
					spent = s
				}
			}
		}
		if o.ExpiresAt != nil && (o.State == commands.OrderRunning || o.State == commands.OrderProvisioning) {
			left = max(o.ExpiresAt.Sub(now), 0).Round(time.Minute).String()
		}
		fmt.Fprintf(tw, "%s\t%s ×%d\t%s\t$%.3f\t%s\t%s\t%s\n", id, o.GPU, o.GPUCount, o.State, o.USDPerHour, spent, left, o.RequestedBy)
	}
	_ = tw.Flush()
}
