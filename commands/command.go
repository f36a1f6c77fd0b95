package commands

import (
	"strconv"
	"strings"
	"time"
)

// Command is one parsed command of the grammar (DESIGN.md §3). Name says
// which command it is; exactly the argument struct of that command is set,
// the others are nil.
type Command struct {
	Name    string // "rent", "cancel", "status", "watch", "extend", "confirm", "market", "help"
	Rent    *RentArgs
	Cancel  *CancelArgs
	Status  *StatusArgs
	Watch   *WatchArgs
	Extend  *ExtendArgs
	Confirm *ConfirmArgs
	Market  *MarketArgs
	Spend   *SpendArgs
	Help    *HelpArgs
}

// ExtendArgs are the arguments of extend <order-id> [hours].
type ExtendArgs struct {
	OrderID int64   // Clore order id, positive
	Hours   float64 // added to the order's current end; default 1, 0 < H <= 8760
	// fromEnd, set by an Extend button, is the end (Unix seconds) the button
	// was shown for: once the order's end moved, the click does nothing.
	fromEnd int64
}

// ConfirmArgs are the arguments of confirm <job-id>.
type ConfirmArgs struct {
	JobID string // a job id as replies show it: 1 to 64 letters, digits, "-" or "_"
}

// RentArgs are the arguments of rent <gpu> [count] [flags].
type RentArgs struct {
	GPU            string   // normalised query, see NormalizeGPU ("RTX 4090", "A100 80GB", "H100")
	Count          int      // GPUs, default 1, 1..16
	MaxPrice       float64  // USD per GPU per hour; 0 = no cap given
	Spot           bool     // spot (interruptible) instead of on-demand
	Image          string   // Docker image; "" = default chosen later
	Hours          float64  // 0 = default chosen later; else 0 < H <= 8760
	SSHKey         string   // SSH public key or ""
	Currency       string   // "" or Clore's spelling: "USD-Blockchain", "CLORE-Blockchain", "bitcoin"
	MinReliability *float64 // nil = default; else 0..1
}

// CancelArgs are the arguments of cancel <order-id>.
type CancelArgs struct {
	OrderID int64 // Clore order id, positive
}

// StatusArgs are the arguments of status [order-id].
type StatusArgs struct {
	OrderID int64 // 0 = all of the requester's orders
}

// WatchArgs are the arguments of watch <gpu> <max-usd-per-hour> [flags],
// watch list and watch cancel <watch-id>.
type WatchArgs struct {
	Action   string        // "create", "list", "cancel"
	GPU      string        // create: normalised query, see NormalizeGPU
	MaxPrice float64       // create: USD per GPU per hour, 0 < p <= 1000
	AutoRent bool          // create: rent as soon as the price is met
	Count    int           // create: GPUs, default 1, 1..16
	Rent     WatchRent     // create: how the rent is made when it triggers
	For      time.Duration // create: 0 = no expiry; at most 90 days
	WatchID  int64         // cancel: positive
}

// MarketArgs are the arguments of market [gpu].
type MarketArgs struct {
	GPU string // normalised query; "" = every model
	// History is "" for the marketplace now, else the window of a price
	// chart ("24h", "7d", "30d"); it needs GPU.
	History string
}

// HelpArgs are the arguments of help [command].
type HelpArgs struct {
	Topic string // "" for the overview, else a command name
}

// UsageError is every parse error, and any other error about what the
// request named (an order or watch that is not the requester's): it names
// the problem and, for a badly formed command only, carries the usage
// line(s) to show with it.
type UsageError struct {
	Command string // command the error concerns, "" when unknown
	Problem string // what was wrong, naming the flag, argument or value
	Usage   string // the usage line(s) of Command, or of every command; "" for none
}

// Error returns the problem followed by the usage, if any.
func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Problem
	}
	return e.Problem + "\nUsage: " + e.Usage
}

// String returns the command in canonical text: Parse(c.String()) yields c
// again for every c that Parse returned.
func (c Command) String() string {
	return c.render(false)
}

// AuditString is String for logs and audit rows: it never holds a secret or
// a long value. The SSH key is shown as "<ssh-key>" and values longer than
// 80 characters are cut.
func (c Command) AuditString() string {
	return c.render(true)
}

func (c Command) render(audit bool) string {
	w := &commandWriter{audit: audit}
	switch c.Name {
	case "rent":
		a := RentArgs{}
		if c.Rent != nil {
			a = *c.Rent
		}
		w.rent(a)
	case "cancel":
		w.word("cancel")
		if c.Cancel != nil {
			w.word(strconv.FormatInt(c.Cancel.OrderID, 10))
		}
	case "status":
		w.word("status")
		if c.Status != nil && c.Status.OrderID != 0 {
			w.word(strconv.FormatInt(c.Status.OrderID, 10))
		}
	case "watch":
		a := WatchArgs{}
		if c.Watch != nil {
			a = *c.Watch
		}
		w.watch(a)
	case "extend":
		w.word("extend")
		if c.Extend != nil {
			w.word(strconv.FormatInt(c.Extend.OrderID, 10))
			if c.Extend.Hours > 0 && c.Extend.Hours != 1 {
				w.word(formatNumber(c.Extend.Hours))
			}
		}
	case "confirm":
		w.word("confirm")
		if c.Confirm != nil {
			w.value(c.Confirm.JobID)
		}
	case "market":
		w.word("market")
		if c.Market != nil {
			w.words(c.Market.GPU)
			if c.Market.History != "" {
				w.flag("history", c.Market.History)
			}
		}
	case "spend":
		w.word("spend")
		if c.Spend != nil {
			if c.Spend.Since != "" {
				w.flag("since", c.Spend.Since)
			}
			if c.Spend.By != "" {
				w.flag("by", c.Spend.By)
			}
		}
	case "help":
		w.word("help")
		if c.Help != nil {
			w.value(c.Help.Topic)
		}
	default:
		w.value(c.Name)
	}
	return strings.Join(w.parts, " ")
}

// commandWriter collects the tokens of a command's canonical text.
type commandWriter struct {
	parts []string
	audit bool
}

// word appends a token that never needs quoting.
func (w *commandWriter) word(s string) { w.parts = append(w.parts, s) }

// words appends space-separated words (a GPU name) as separate tokens.
func (w *commandWriter) words(s string) { w.parts = append(w.parts, strings.Fields(s)...) }

// value appends a value, quoted when needed and cut in audit mode.
func (w *commandWriter) value(s string) {
	if s == "" {
		return
	}
	if w.audit && len([]rune(s)) > maxAuditValueChars {
		s = string([]rune(s)[:maxAuditValueChars-3]) + "..."
	}
	w.parts = append(w.parts, quoteToken(s))
}

func (w *commandWriter) flag(name string, value ...string) {
	w.word("--" + name)
	for _, v := range value {
		w.value(v)
	}
}

func (w *commandWriter) rent(a RentArgs) {
	w.word("rent")
	w.word(rentPositionalText(a.GPU, a.Count))
	if a.MaxPrice > 0 {
		w.flag("max-price", formatNumber(a.MaxPrice))
	}
	if a.Spot {
		w.flag("spot")
	}
	if a.Image != "" {
		w.flag("image", a.Image)
	}
	if a.Hours > 0 {
		w.flag("hours", formatNumber(a.Hours))
	}
	switch {
	case a.SSHKey != "" && w.audit:
		w.flag("ssh-key")
		w.word("<ssh-key>")
	case a.SSHKey != "":
		w.flag("ssh-key", a.SSHKey)
	}
	if a.Currency != "" {
		w.flag("currency", a.Currency)
	}
	if a.MinReliability != nil {
		w.flag("min-reliability", formatNumber(*a.MinReliability))
	}
}

func (w *commandWriter) watch(a WatchArgs) {
	w.word("watch")
	switch a.Action {
	case watchActionList:
		w.word("list")
		return
	case watchActionCancel:
		w.word("cancel")
		w.word(strconv.FormatInt(a.WatchID, 10))
		return
	}
	w.words(a.GPU)
	w.word(formatNumber(a.MaxPrice))
	if a.AutoRent {
		w.flag("auto-rent")
	}
	if a.Count > 1 {
		w.flag("count", strconv.Itoa(a.Count))
	}
	if a.For > 0 {
		w.flag("for", formatDuration(a.For))
	}
}

// rentPositionalText writes rent's GPU and count the way the grammar reads
// them back: "RTX 4090", "RTX 4090 2", or, when a GPU name would be read
// differently (it ends in a number), with the count in front: "1x foo 3".
func rentPositionalText(gpu string, count int) string {
	if count < 1 {
		count = 1
	}
	plain := strings.Join(strings.Fields(gpu), " ")
	if count != 1 {
		plain += " " + strconv.Itoa(count)
	}
	if g, n, err := parseRentPositionals(strings.Fields(plain)); err == nil && g == gpu && n == count {
		return plain
	}
	return strconv.Itoa(count) + "x " + gpu
}

// formatNumber writes a float in the shortest form that reads back exactly.
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatDuration writes d as the grammar reads it: "3d", "1d12h", "1h30m".
func formatDuration(d time.Duration) string {
	units := []struct {
		suffix string
		size   time.Duration
	}{
		{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
		{"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", time.Nanosecond},
	}
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range units {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.suffix)
			d -= n * u.size
		}
	}
	return b.String()
}

// Watch actions.
const (
	watchActionCreate = "create"
	watchActionList   = "list"
	watchActionCancel = "cancel"
)
