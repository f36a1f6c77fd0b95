package commands

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clorebot/clorebot/clore"
)

// Parse reads one command of the grammar (DESIGN.md §3) from chat, webhook
// or CLI text. A leading "/clore" and surrounding whitespace are ignored;
// command and flag names are case-insensitive; flags may come anywhere.
// Every error is a *UsageError naming the problem and carrying the usage.
func Parse(text string) (Command, error) {
	if len(text) > maxCommandBytes {
		return Command{}, usageErrorf(guessCommandName(text),
			"the command is too long: %d bytes, at most %d", len(text), maxCommandBytes)
	}
	tokens, err := Tokenize(text)
	if err != nil {
		problem := err.Error()
		if ue, ok := errors.AsType[*UsageError](err); ok {
			problem = ue.Problem
		}
		return Command{}, usageErrorf(guessCommandName(text), "%s", problem)
	}
	if len(tokens) > 0 && strings.EqualFold(tokens[0], "/clore") {
		tokens = tokens[1:]
	}
	if len(tokens) == 0 {
		return Command{}, usageErrorf("", "no command given; the commands are %s", sayList(commandNames()))
	}
	return parseTokens(tokens)
}

// ParseRequest parses req's Text once, for every step that follows (the
// front door's acknowledgement, policy, the handler, the audit row): the
// result is req with Command set, or with Invalid when Text does not parse.
// A click, or a request parsed already, is returned as it is.
func ParseRequest(req Request) Request {
	if req.Action != nil || req.Command != nil || req.Invalid != nil {
		return req
	}
	if h := lastHelp.Load(); h != nil && h.text == req.Text {
		req.Command = h.cmd // a burst of help parses its text once
		return req
	}
	cmd, err := Parse(req.Text)
	if err != nil {
		ue, ok := errors.AsType[*UsageError](err)
		if !ok { // Parse's errors are all *UsageError; should one not be, it is still the text's fault
			ue = &UsageError{Problem: err.Error(), Usage: Usage("")}
		}
		req.Invalid = ue
		return req
	}
	req.Command = &cmd
	if cmd.Name == "help" {
		lastHelp.Store(&helpParse{text: req.Text, cmd: req.Command})
	}
	return req
}

// helpParse is the last help text ParseRequest read, and its command,
// shared read-only by the requests that carry the same text. Only help is
// kept: its parse depends on the text alone.
type helpParse struct {
	text string
	cmd  *Command
}

var lastHelp atomic.Pointer[helpParse]

// Parsed is the command req carries (Command, or Invalid as the error). A
// request no front door parsed (a test's, a caller's of its own) is parsed
// here, each time: front doors call ParseRequest once instead.
func (req Request) Parsed() (Command, error) {
	switch {
	case req.Command != nil:
		return *req.Command, nil
	case req.Invalid != nil:
		return Command{}, req.Invalid
	}
	return Parse(req.Text)
}

// sayList writes words as a sentence does: "a, b and c".
func sayList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// usageErrorf builds the *UsageError of command (or of no known command).
func usageErrorf(command, format string, args ...any) error {
	return &UsageError{Command: command, Problem: fmt.Sprintf(format, args...), Usage: Usage(command)}
}

// guessCommandName names the command of text that failed before it could be
// tokenised, so that the error still carries the right usage.
func guessCommandName(text string) string {
	if len(text) > 256 {
		text = text[:256]
	}
	fields := strings.Fields(text)
	if len(fields) > 0 && strings.EqualFold(fields[0], "/clore") {
		fields = fields[1:]
	}
	if len(fields) > 0 {
		if s, ok := lookupSpec(fields[0]); ok {
			return s.Name
		}
	}
	return ""
}

func parseTokens(tokens []string) (Command, error) {
	if isHelpFlag(tokens[0]) {
		return Command{Name: "help", Help: &HelpArgs{}}, nil
	}
	spec, ok := lookupSpec(tokens[0])
	if !ok {
		return Command{}, unknownCommandError(tokens[0])
	}
	args := tokens[1:]
	for _, a := range args {
		if isHelpFlag(a) {
			return Command{Name: "help", Help: &HelpArgs{Topic: spec.Name}}, nil
		}
	}
	pos, flags, err := splitArgs(spec, args)
	if err != nil {
		return Command{}, err
	}
	return spec.parse(pos, flags)
}

// isHelpFlag reports whether a token asks for help instead of running.
func isHelpFlag(tok string) bool {
	switch strings.ToLower(tok) {
	case "--help", "-h", "-help":
		return true
	}
	return false
}

func unknownCommandError(name string) error {
	problem := fmt.Sprintf("unknown command %s", showValue(name))
	if s := closestWord(strings.ToLower(name), commandNames(), 2); s != "" {
		problem += "; did you mean " + s + "?"
	}
	return usageErrorf("", "%s", problem)
}

// flagValues holds the flags given to one command: canonical name to value
// ("true"/"false" for boolean flags).
type flagValues map[string]string

// splitArgs separates positionals from flags and checks every flag against
// the command's flags: known, given once, with a value when it needs one.
func splitArgs(spec *Spec, args []string) ([]string, flagValues, error) {
	var pos []string
	flags := flagValues{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && !isASCIIDigit(a[1]) && a[1] != '.' {
			return nil, nil, singleDashError(spec, a)
		}
		if !strings.HasPrefix(a, "--") {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		f, err := lookupFlag(spec, name)
		if err != nil {
			return nil, nil, err
		}
		if _, dup := flags[f.Name]; dup {
			return nil, nil, usageErrorf(spec.Name, "--%s is given twice", f.Name)
		}
		switch {
		case f.Kind == ParamBool:
			if val, err = boolFlagValue(spec, f, val, hasVal); err != nil {
				return nil, nil, err
			}
		case hasVal && val == "":
			return nil, nil, missingValueError(spec, f)
		case hasVal:
		case i+1 < len(args) && !looksLikeFlag(args[i+1]):
			i++
			val = args[i]
		default:
			return nil, nil, missingValueError(spec, f)
		}
		flags[f.Name] = val
	}
	return pos, flags, nil
}

// looksLikeFlag tells a flag from a value: "--spot" or "--" is a flag,
// "-5" and "-----BEGIN" are values (to be judged by the flag).
func looksLikeFlag(tok string) bool {
	return tok == "--" || strings.HasPrefix(tok, "--") && tok[2] != '-'
}

// lookupFlag finds a flag of spec, forgiving case and "_" for "-".
func lookupFlag(spec *Spec, name string) (Param, error) {
	canon := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	for _, f := range spec.flags {
		if f.Name == canon {
			return f, nil
		}
	}
	if name == "" {
		return Param{}, usageErrorf(spec.Name, `"--" must be followed by a flag name, e.g. --spot`)
	}
	if len(spec.flags) == 0 {
		return Param{}, usageErrorf(spec.Name, "%s takes no flags, got %s", spec.Name, showValue("--"+name))
	}
	problem := fmt.Sprintf("unknown flag %s for %s", showValue("--"+name), spec.Name)
	if s := closestWord(canon, flagNames(spec), 3); s != "" {
		problem += " (did you mean --" + s + "?)"
	}
	return Param{}, usageErrorf(spec.Name, "%s; %s takes --%s", problem, spec.Name,
		strings.Join(flagNames(spec), ", --"))
}

func flagNames(spec *Spec) []string {
	names := make([]string, 0, len(spec.flags))
	for _, f := range spec.flags {
		names = append(names, f.Name)
	}
	return names
}

// singleDashError answers "-spot": flags take two dashes.
func singleDashError(spec *Spec, tok string) error {
	name, _, _ := strings.Cut(tok[1:], "=")
	problem := fmt.Sprintf(`unknown flag %s: flags start with "--"`, showValue(tok))
	if _, err := lookupFlag(spec, name); err == nil {
		problem += fmt.Sprintf(" (did you mean --%s?)", strings.ToLower(strings.ReplaceAll(name, "_", "-")))
	}
	return usageErrorf(spec.Name, "%s", problem)
}

func boolFlagValue(spec *Spec, f Param, val string, hasVal bool) (string, error) {
	switch {
	case !hasVal, strings.EqualFold(val, "true"):
		return "true", nil
	case strings.EqualFold(val, "false"):
		return "false", nil
	}
	return "", usageErrorf(spec.Name, "--%s takes no value (or =true, =false), got %s", f.Name, showValue(val))
}

func missingValueError(spec *Spec, f Param) error {
	return usageErrorf(spec.Name, "--%s needs a value: %s", f.Name, orString(f.Help, f.Summary))
}

// parseRent checks the flags first: a malformed flag value (an unquoted SSH
// key) leaves stray words that would otherwise be blamed on the GPU name.
func parseRent(pos []string, flags flagValues) (Command, error) {
	a := &RentArgs{}
	if err := applyRentFlags(a, flags); err != nil {
		return Command{}, usageErrorf("rent", "%s", err.Error())
	}
	gpu, count, err := parseRentPositionals(pos)
	if err != nil {
		return Command{}, err
	}
	a.GPU, a.Count = gpu, count
	return Command{Name: "rent", Rent: a}, nil
}

// parseRentPositionals reads rent's "<gpu> [count]". The GPU may be several
// words; a last word that is a whole number from 1 to 16 is the count. A
// leading "2x" (as Clore writes "2x RTX 4090") is also a count, and then the
// last word always belongs to the GPU.
func parseRentPositionals(pos []string) (string, int, error) {
	if len(pos) == 0 || (len(pos) == 1 && isTimesCount(pos[0])) {
		return "", 0, usageErrorf("rent", `rent needs a GPU model, e.g. rent 4090 or rent a100 80gb 2`)
	}
	if isTimesCount(pos[0]) {
		n, ok := parseSmallCount(pos[0][:len(pos[0])-1])
		if !ok {
			return "", 0, usageErrorf("rent", "%s", countProblem("the count", pos[0]))
		}
		gpu, err := gpuQueryArg("rent", pos[1:])
		return gpu, n, err
	}
	count, words := 1, pos
	if len(pos) >= 2 {
		last, head := pos[len(pos)-1], pos[:len(pos)-1]
		if n, ok := parseSmallCount(last); ok {
			count, words = n, head
		} else if isSignedInteger(last) && (last[0] == '-' || last[0] == '+' ||
			(!gpuQueryKnown(strings.Join(pos, " ")) && gpuQueryKnown(strings.Join(head, " ")))) {
			return "", 0, usageErrorf("rent", "%s", countProblem("the count", last))
		}
	}
	gpu, err := gpuQueryArg("rent", words)
	return gpu, count, err
}

// applyRentFlags validates rent's flags in their documented order, so that
// the first problem reported does not depend on the order they were typed.
func applyRentFlags(a *RentArgs, flags flagValues) error {
	var err error
	if v, ok := flags["max-price"]; ok {
		if a.MaxPrice, err = parsePrice("--max-price", v); err != nil {
			return err
		}
	}
	a.Spot = flags["spot"] == "true"
	if v, ok := flags["image"]; ok {
		if a.Image, err = parseImage(v); err != nil {
			return err
		}
	}
	if v, ok := flags["hours"]; ok {
		if a.Hours, err = parseHours(v); err != nil {
			return err
		}
	}
	if v, ok := flags["ssh-key"]; ok {
		if a.SSHKey, err = parseSSHKey(v); err != nil {
			return err
		}
	}
	if v, ok := flags["currency"]; ok {
		if a.Currency, err = parseCurrency(v); err != nil {
			return err
		}
	}
	if v, ok := flags["min-reliability"]; ok {
		r, err := parseReliability(v)
		if err != nil {
			return err
		}
		a.MinReliability = &r
	}
	return nil
}

func parseCancel(pos []string, _ flagValues) (Command, error) {
	switch {
	case len(pos) == 0:
		return Command{}, usageErrorf("cancel", "cancel needs an order id, e.g. cancel 12345")
	case len(pos) > 1:
		return Command{}, usageErrorf("cancel", "cancel takes one order id; unexpected extra argument %s", showValue(pos[1]))
	}
	id, err := parseEntityID("the order id", pos[0])
	if err != nil {
		return Command{}, usageErrorf("cancel", "%s", err.Error())
	}
	return Command{Name: "cancel", Cancel: &CancelArgs{OrderID: id}}, nil
}

func parseExtend(pos []string, _ flagValues) (Command, error) {
	switch {
	case len(pos) == 0:
		return Command{}, usageErrorf("extend", "extend needs an order id, e.g. extend 12345 or extend 12345 2")
	case len(pos) > 2:
		return Command{}, usageErrorf("extend", "extend takes an order id and hours; unexpected extra argument %s", showValue(pos[2]))
	}
	id, err := parseEntityID("the order id", pos[0])
	if err != nil {
		return Command{}, usageErrorf("extend", "%s", err.Error())
	}
	a := &ExtendArgs{OrderID: id, Hours: 1}
	if len(pos) == 2 {
		if a.Hours, err = parseHours(pos[1]); err != nil {
			return Command{}, usageErrorf("extend", "%s", strings.Replace(err.Error(), "--hours", "the hours", 1))
		}
	}
	return Command{Name: "extend", Extend: a}, nil
}

// reJobID is a job id as replies show it.
var reJobID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,` + strconv.Itoa(maxJobIDChars) + `}$`)

func parseConfirm(pos []string, _ flagValues) (Command, error) {
	switch {
	case len(pos) == 0:
		return Command{}, usageErrorf("confirm", "confirm needs the job id of a rent awaiting confirmation, e.g. confirm 4xq2m7ab3kfe6c5p")
	case len(pos) > 1:
		return Command{}, usageErrorf("confirm", "confirm takes one job id; unexpected extra argument %s", showValue(pos[1]))
	case !reJobID.MatchString(pos[0]):
		return Command{}, usageErrorf("confirm", "the job id must be letters, digits, \"-\" or \"_\" (at most %d), got %s", maxJobIDChars, showValue(pos[0]))
	}
	return Command{Name: "confirm", Confirm: &ConfirmArgs{JobID: strings.ToLower(pos[0])}}, nil
}

func parseStatus(pos []string, _ flagValues) (Command, error) {
	c := Command{Name: "status", Status: &StatusArgs{}}
	switch {
	case len(pos) == 0:
		return c, nil
	case len(pos) > 1:
		return Command{}, usageErrorf("status", "status takes at most one order id; unexpected extra argument %s", showValue(pos[1]))
	case strings.EqualFold(pos[0], "all"):
		return c, nil
	}
	id, err := parseEntityID("the order id", pos[0])
	if err != nil {
		return Command{}, usageErrorf("status", "%s", err.Error())
	}
	c.Status.OrderID = id
	return c, nil
}

func parseMarket(pos []string, flags flagValues) (Command, error) {
	c := Command{Name: "market", Market: &MarketArgs{}}
	if v, ok := flags["history"]; ok {
		w := strings.ToLower(strings.TrimSpace(v))
		if _, known := historyWindows[w]; !known {
			return Command{}, usageErrorf("market", "--history takes 24h, 7d or 30d, not %s", showValue(v))
		}
		c.Market.History = w
	}
	if len(pos) == 0 || (len(pos) == 1 && strings.EqualFold(pos[0], "all")) {
		if c.Market.History != "" {
			return Command{}, usageErrorf("market", "--history needs a GPU model, e.g. market rtx 4090 --history 7d")
		}
		return c, nil
	}
	gpu, err := gpuQueryArg("market", pos)
	if err != nil {
		return Command{}, err
	}
	c.Market.GPU = gpu
	return c, nil
}

func parseHelp(pos []string, _ flagValues) (Command, error) {
	c := Command{Name: "help", Help: &HelpArgs{}}
	switch {
	case len(pos) == 0:
		return c, nil
	case len(pos) > 1:
		return Command{}, usageErrorf("help", "help takes at most one command name; unexpected extra argument %s", showValue(pos[1]))
	}
	topic := strings.ToLower(strings.TrimPrefix(pos[0], "/"))
	spec, ok := lookupSpec(topic)
	if !ok {
		problem := fmt.Sprintf("no help for %s: not a command", showValue(pos[0]))
		if s := closestWord(topic, commandNames(), 2); s != "" {
			problem += "; did you mean " + s + "?"
		}
		return Command{}, usageErrorf("help", "%s", problem)
	}
	c.Help.Topic = spec.Name
	return c, nil
}

func parseWatch(pos []string, flags flagValues) (Command, error) {
	if len(pos) == 0 {
		return Command{}, usageErrorf("watch", "watch needs a GPU and a max price in USD per GPU per hour, or list, or cancel <watch-id>")
	}
	action := strings.ToLower(pos[0])
	if action != watchActionList && action != watchActionCancel {
		return parseWatchCreate(pos, flags)
	}
	for _, f := range flagNames(mustSpec("watch")) {
		if _, ok := flags[f]; ok {
			return Command{}, usageErrorf("watch", "watch %s takes no flags, got --%s (flags are for creating a watch)", action, f)
		}
	}
	if action == watchActionList {
		if len(pos) > 1 {
			return Command{}, usageErrorf("watch", "watch list takes no arguments; unexpected extra argument %s", showValue(pos[1]))
		}
		return Command{Name: "watch", Watch: &WatchArgs{Action: watchActionList}}, nil
	}
	switch {
	case len(pos) == 1:
		return Command{}, usageErrorf("watch", "watch cancel needs a watch id, e.g. watch cancel 7")
	case len(pos) > 2:
		return Command{}, usageErrorf("watch", "watch cancel takes one watch id; unexpected extra argument %s", showValue(pos[2]))
	}
	id, err := parseEntityID("the watch id", pos[1])
	if err != nil {
		return Command{}, usageErrorf("watch", "%s", err.Error())
	}
	return Command{Name: "watch", Watch: &WatchArgs{Action: watchActionCancel, WatchID: id}}, nil
}

func parseWatchCreate(pos []string, flags flagValues) (Command, error) {
	if len(pos) == 1 {
		return Command{}, usageErrorf("watch",
			"watch needs a GPU and then a max price in USD per GPU per hour (e.g. watch 4090 0.40), got only %s", showValue(pos[0]))
	}
	price, err := parsePrice("the max price", pos[len(pos)-1])
	if err != nil && gpuQueryKnown(strings.Join(pos, " ")) {
		return Command{}, usageErrorf("watch", "watch needs a max price in USD per GPU per hour after the GPU, e.g. watch %s 0.40",
			strings.Join(pos, " "))
	}
	if err != nil {
		return Command{}, usageErrorf("watch", "%s (the price comes last: watch <gpu> <max-usd-per-hour>)", err.Error())
	}
	gpu, err := gpuQueryArg("watch", pos[:len(pos)-1])
	if err != nil {
		return Command{}, err
	}
	a := &WatchArgs{Action: watchActionCreate, GPU: gpu, MaxPrice: price, Count: 1}
	a.AutoRent = flags["auto-rent"] == "true"
	if v, ok := flags["count"]; ok {
		n, ok := parseSmallCount(v)
		if !ok {
			return Command{}, usageErrorf("watch", "%s", countProblem("--count", v))
		}
		a.Count = n
	}
	if v, ok := flags["for"]; ok {
		if a.For, err = parseWatchDuration(v); err != nil {
			return Command{}, usageErrorf("watch", "%s", err.Error())
		}
	}
	return Command{Name: "watch", Watch: a}, nil
}

func mustSpec(name string) *Spec {
	s, ok := lookupSpec(name)
	if !ok {
		panic("commands: no grammar for " + name)
	}
	return s
}

// gpuQueryArg checks the words of a GPU query and normalises it.
func gpuQueryArg(command string, words []string) (string, error) {
	q := strings.Join(words, " ")
	if n := utf8.RuneCountInString(q); n > maxGPUQueryChars {
		return "", usageErrorf(command, "the GPU name is too long: %d characters, at most %d, got %s", n, maxGPUQueryChars, showValue(q))
	}
	for _, r := range q {
		if !isASCIIAlnum(r) && r != ' ' && r != '-' && r != '_' {
			return "", usageErrorf(command, `the GPU name may contain only letters, digits, spaces, "-" and "_", got %s`, showValue(q))
		}
	}
	fields := strings.Fields(q)
	for _, w := range fields {
		if !isASCIIAlnum(rune(w[0])) {
			return "", usageErrorf(command, "unexpected argument %s: a GPU name starts with a letter or digit", showValue(w))
		}
	}
	gpu := NormalizeGPU(q)
	if len(fields) == 0 || gpu == "" {
		return "", usageErrorf(command, "%s needs a GPU model, e.g. 4090, a100 80gb, h100", command)
	}
	return gpu, nil
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isASCIIDigit(b byte) bool { return b >= '0' && b <= '9' }

func allASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isASCIIDigit(s[i]) {
			return false
		}
	}
	return true
}

// isSignedInteger reports "-3", "+3", "32": a number meant as a count.
func isSignedInteger(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	return allASCIIDigits(s)
}

// isTimesCount reports a "2x" count prefix.
func isTimesCount(s string) bool {
	n := len(s)
	return n >= 2 && (s[n-1] == 'x' || s[n-1] == 'X') && allASCIIDigits(s[:n-1])
}

// parseSmallCount reads a GPU count: a whole number from 1 to 16.
func parseSmallCount(s string) (int, bool) {
	if !allASCIIDigits(s) || len(s) > 4 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxGPUCount {
		return 0, false
	}
	return n, true
}

func countProblem(what, s string) string {
	return fmt.Sprintf("%s must be a whole number of GPUs from 1 to %d, got %s", what, maxGPUCount, showValue(s))
}

// parseDecimal reads a plain non-negative decimal: digits with at most one
// point. No sign, exponent, hex, underscore, Inf or NaN.
func parseDecimal(s string) (float64, bool) {
	if s == "" || len(s) > 32 {
		return 0, false
	}
	digits, points := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case isASCIIDigit(s[i]):
			digits++
		case s[i] == '.':
			points++
		default:
			return 0, false
		}
	}
	if digits == 0 || points > 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// parsePrice reads a price in USD per GPU per hour, with an optional "$".
func parsePrice(what, s string) (float64, error) {
	v, ok := parseDecimal(strings.TrimPrefix(s, "$"))
	switch {
	case !ok || v <= 0:
		return 0, fmt.Errorf("%s must be a positive number of USD per GPU per hour, like 0.45, got %s", what, showValue(s))
	case v > maxUSDPerGPUHour:
		return 0, fmt.Errorf("%s must be at most %d USD per GPU per hour, got %s", what, maxUSDPerGPUHour, showValue(s))
	}
	return v, nil
}

func parseHours(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(s, "h"), "H")
	v, ok := parseDecimal(t)
	if !ok || v <= 0 || v > maxRentHours {
		return 0, fmt.Errorf("--hours must be a number of hours above 0 and at most %d (a year), got %s", maxRentHours, showValue(s))
	}
	return v, nil
}

// parseReliability reads 0..1 or a percentage "95%".
func parseReliability(s string) (float64, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		if v, ok := parseDecimal(p); ok && v <= 100 {
			return v / 100, nil
		}
	} else if v, ok := parseDecimal(s); ok && v <= 1 {
		return v, nil
	}
	return 0, fmt.Errorf("--min-reliability must be from 0 to 1, or a percentage like 95%%, got %s", showValue(s))
}

// parseEntityID reads an order or watch id: a positive whole number, "#" allowed.
func parseEntityID(what, s string) (int64, error) {
	t := strings.TrimPrefix(s, "#")
	if allASCIIDigits(t) && len(t) <= 16 {
		if v, err := strconv.ParseInt(t, 10, 64); err == nil && v > 0 && v <= maxEntityID {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%s must be a positive whole number like 12345 or #12345, got %s", what, showValue(s))
}

func parseCurrency(s string) (string, error) {
	switch strings.ToLower(s) {
	case "usd", "usdt", "usd-blockchain":
		return clore.CurrencyUSD, nil
	case "clore", "clore-blockchain":
		return clore.CurrencyCLORE, nil
	case "btc", "bitcoin":
		return clore.CurrencyBTC, nil
	}
	return "", fmt.Errorf("--currency must be usd, clore or btc, got %s", showValue(s))
}

// reImageRef is a Docker image reference: lower-case [registry/]repo path,
// optional :tag, optional @sha256:digest.
var reImageRef = regexp.MustCompile(`^` +
	`(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?/)?` +
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
	`(?:@sha256:[a-f0-9]{64})?$`)

func parseImage(s string) (string, error) {
	if n := utf8.RuneCountInString(s); n > maxImageRefChars {
		return "", fmt.Errorf("--image is too long: %d characters, at most %d, got %s", n, maxImageRefChars, showValue(s))
	}
	if !reImageRef.MatchString(s) {
		return "", fmt.Errorf("--image must be a Docker image like nvidia/cuda:12.8.0-base-ubuntu22.04"+
			" (lower-case name, optional :tag or @sha256:digest), got %s", showValue(s))
	}
	return s, nil
}

// parseSSHKey checks an SSH public key: a known type, then base64 key data,
// then an optional comment. Whitespace is collapsed.
func parseSSHKey(s string) (string, error) {
	const want = "ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-*"
	if strings.Contains(strings.ToUpper(s), "PRIVATE KEY") {
		return "", errors.New("--ssh-key looks like a private key: never share it; give the public key (the .pub file)")
	}
	if n := utf8.RuneCountInString(s); n > maxSSHKeyChars {
		return "", fmt.Errorf("--ssh-key is too long: %d characters, at most %d", n, maxSSHKeyChars)
	}
	fields := strings.Fields(s)
	if len(fields) == 0 || !isSSHKeyType(fields[0]) {
		return "", fmt.Errorf("--ssh-key must be a public key starting with %s, got %s", want, showValue(s))
	}
	if len(fields) == 1 {
		return "", fmt.Errorf(`--ssh-key must be the whole public key in quotes ("%s AAAA... you@host"), got only %s`, fields[0], showValue(s))
	}
	if !isBase64(fields[1]) {
		return "", fmt.Errorf("--ssh-key: the key data after %s must be base64, got %s", fields[0], showValue(fields[1]))
	}
	return strings.Join(fields, " "), nil
}

func isSSHKeyType(t string) bool {
	return t == "ssh-ed25519" || t == "ssh-rsa" || t == "sk-ssh-ed25519@openssh.com" ||
		strings.HasPrefix(t, "ecdsa-sha2-") || strings.HasPrefix(t, "sk-ecdsa-sha2-")
}

func isBase64(s string) bool {
	if len(s) < 16 {
		return false
	}
	for _, r := range s {
		if !isASCIIAlnum(r) && r != '+' && r != '/' && r != '=' {
			return false
		}
	}
	return true
}

// parseWatchDuration reads a Go duration, with "d" for days in front
// ("3d", "1d12h", "12h", "90m"); above 0, at most 90 days.
func parseWatchDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("--for must be a duration like 12h, 3d or 1d12h, above 0 and at most 90d, got %s", showValue(s))
	t := strings.ToLower(s)
	if len(t) > 32 || t == "" {
		return 0, bad
	}
	var d time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		days, ok := parseDecimal(t[:i])
		if !ok || days > maxWatchDuration.Hours()/24 {
			return 0, bad
		}
		d, t = time.Duration(days*float64(24*time.Hour)), t[i+1:]
	}
	if t != "" {
		if t[0] == '-' || t[0] == '+' {
			return 0, bad
		}
		rest, err := time.ParseDuration(t)
		if err != nil {
			return 0, bad
		}
		d += rest
	}
	if d <= 0 || d > maxWatchDuration {
		return 0, bad
	}
	return d, nil
}

// showValue quotes an offending value for an error: cut to about 40
// characters, control and invisible characters escaped.
func showValue(s string) string {
	if utf8.RuneCountInString(s) > maxShownValueChars {
		r := []rune(s)
		s = string(r[:maxShownValueChars]) + "…"
	}
	return strconv.Quote(s)
}

// Quote kinds that Tokenize knows; Slack and Discord clients turn straight
// quotes into typographic ones.
const (
	quoteNone = iota
	quoteDouble
	quoteSingle
	quoteBack
)

func quoteKind(r rune) int {
	switch r {
	case '"', '“', '”', '„':
		return quoteDouble
	case '\'', '‘', '’':
		return quoteSingle
	case '`':
		return quoteBack
	}
	return quoteNone
}

// Tokenize splits text into words like a shell: whitespace separates;
// double, single and back quotes (straight or typographic) group; inside
// double quotes a backslash escapes a quote or a backslash. A leading em or
// en dash, as chat clients write "--", is read as "--". An unterminated
// quote or a control character is an error (a *UsageError).
func Tokenize(text string) ([]string, error) {
	if !utf8.ValidString(text) {
		return nil, usageErrorf("", "the command is not valid UTF-8 text")
	}
	t := tokenizer{}
	pos := 0
	for _, r := range text {
		pos++
		if err := t.next(r, pos); err != nil {
			return nil, err
		}
	}
	if t.quote != quoteNone {
		return nil, usageErrorf("", "unterminated quote: the %c at character %d is never closed", t.openRune, t.openAt)
	}
	t.flush()
	return t.tokens, nil
}

type tokenizer struct {
	tokens   []string
	cur      strings.Builder
	inToken  bool
	quote    int  // quote kind open, or quoteNone
	openRune rune // the rune that opened it
	openAt   int  // its position, in characters from 1
	escaped  bool // a backslash was read inside double quotes
}

func (t *tokenizer) next(r rune, pos int) error {
	invisible := unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	if invisible && (t.quote != quoteNone || !(unicode.IsSpace(r) || unicode.Is(unicode.Cf, r))) {
		return usageErrorf("", "the command contains a control character (%U) at character %d", r, pos)
	}
	switch {
	case t.escaped:
		t.escaped = false
		if r != '\\' && quoteKind(r) != quoteDouble {
			t.cur.WriteByte('\\')
		}
		t.cur.WriteRune(r)
	case t.quote == quoteDouble && r == '\\':
		t.escaped = true
	case t.quote != quoteNone && quoteKind(r) == t.quote:
		t.quote = quoteNone
	case t.quote != quoteNone:
		t.cur.WriteRune(r)
	case unicode.IsSpace(r) || invisible:
		t.flush()
	case quoteKind(r) != quoteNone:
		t.quote, t.openRune, t.openAt, t.inToken = quoteKind(r), r, pos, true
	case !t.inToken && (r == '—' || r == '–'):
		t.cur.WriteString("--")
		t.inToken = true
	default:
		t.cur.WriteRune(r)
		t.inToken = true
	}
	return nil
}

func (t *tokenizer) flush() {
	if t.inToken {
		t.tokens = append(t.tokens, t.cur.String())
		t.cur.Reset()
		t.inToken = false
	}
}

// quoteToken writes s as one token that Tokenize reads back as s.
func quoteToken(s string) string {
	plain := s != "" && !strings.HasPrefix(s, "—") && !strings.HasPrefix(s, "–") &&
		!strings.ContainsFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || quoteKind(r) != quoteNone || r == '\\' ||
				unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
		})
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '\\' || quoteKind(r) == quoteDouble {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
