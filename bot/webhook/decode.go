package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clorebot/clorebot/commands"
)

// Routes whose bodies DecodeBody reads: the last element of their paths.
const (
	RouteCreateOrder = "create-order"
	RouteCancelOrder = "cancel-order"
	RoutePriceAlert  = "price-alert"
	RouteStatus      = "status"
	RouteCommand     = "command"
	// RouteConfirm is POST /webhook/jobs/{id}/confirm: {"job_id": "<id>"},
	// the job of the path, so that the signature covers what it confirms.
	RouteConfirm = "confirm"
)

// MaxBodyBytes caps every request body (DESIGN.md §5): larger ones get 413.
const MaxBodyBytes = 1 << 20

// Limits of the request fields; the grammar (DESIGN.md §3) has the same ones.
const (
	maxGPUTypeChars     = 64
	maxImageChars       = 256
	maxCallbackURLChars = 2048
	maxCommandTextBytes = 4096
	maxUSDPerGPUHour    = 1000
	maxGPUCount         = 16
	maxRentHours        = 8760
	maxEntityID         = 1 << 53
	maxShownChars       = 40
)

// FieldError is a request body the decoder refuses. Field names the JSON
// field at fault ("body" for the body as a whole); Problem says what is
// wrong; Usage is the command's usage when the field is a command text. It
// never quotes more than 40 characters of what was sent, so its text is safe
// to return to the caller.
type FieldError struct {
	Field   string
	Problem string
	Usage   string
}

// Error reads like "max_price: want a number, got a string".
func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Body is a decoded route body: the command to run and where its answers go.
type Body struct {
	Command     commands.Command
	CallbackURL string // "" when none was given
	// JobID is the job a confirm body names (RouteConfirm only).
	JobID string
	// Notes are remarks for the caller, such as a field that is accepted
	// but does not change anything yet.
	Notes []string
}

// kind is the JSON type a field takes.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindInteger
	kindBool
)

func (k kind) String() string {
	return [...]string{"a string", "a number", "a whole number", "true or false"}[k]
}

// routeFields are the fields each route accepts, in the order they are
// checked and documented. Every one is optional unless its route says so.
var routeFields = map[string][]fieldSpec{
	RouteCreateOrder: {
		{"gpu_type", kindString}, {"count", kindInteger}, {"max_price", kindNumber}, {"image", kindString},
		{"use_spot", kindBool}, {"hours", kindNumber}, {"ssh_key", kindString}, {"callback_url", kindString},
	},
	RouteCancelOrder: {{"order_id", kindInteger}, {"callback_url", kindString}},
	RoutePriceAlert: {
		{"gpu_type", kindString}, {"target_price", kindNumber}, {"auto_rent", kindBool}, {"count", kindInteger},
		{"image", kindString}, {"hours", kindNumber}, {"use_spot", kindBool}, {"ssh_key", kindString}, {"callback_url", kindString},
	},
	RouteStatus:  {{"order_id", kindInteger}, {"callback_url", kindString}},
	RouteCommand: {{"text", kindString}, {"callback_url", kindString}},
	RouteConfirm: {{"job_id", kindString}},
}

type fieldSpec struct {
	name string
	kind kind
}

// DecodeBody reads the JSON body of a route into its command, strictly: one
// JSON object, no unknown or repeated field, every field of its type and in
// its range. null counts as absent. The first problem found is returned as a
// *FieldError naming the field; DecodeBody never panics, whatever the input.
func DecodeBody(route string, body []byte) (Body, error) {
	specs, ok := routeFields[route]
	if !ok {
		return Body{}, fieldErr("route", "unknown route %s", quote(route))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		switch route {
		case RouteStatus:
			body = []byte("{}") // a status request need not say anything
		case RouteConfirm:
			return Body{}, errConfirmJobID
		}
	}
	obj, err := readObject(body, specs)
	if err != nil {
		return Body{}, err
	}
	var b Body
	if b.CallbackURL, err = obj.callbackURL(); err != nil {
		return Body{}, err
	}
	switch route {
	case RouteCreateOrder:
		err = obj.createOrder(&b)
	case RouteCancelOrder:
		err = obj.cancelOrder(&b)
	case RoutePriceAlert:
		err = obj.priceAlert(&b)
	case RouteStatus:
		err = obj.status(&b)
	case RouteCommand:
		err = obj.command(&b)
	case RouteConfirm:
		err = obj.confirm(&b)
	}
	if err != nil {
		return Body{}, err
	}
	return b, nil
}

// object is a flat JSON object whose values are string, json.Number or bool.
type object map[string]any

// readObject reads exactly one JSON object whose keys are among specs and
// whose values have the spec's JSON type.
func readObject(body []byte, specs []fieldSpec) (object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fieldErr("body", "empty; want a JSON object")
	}
	if !json.Valid(body) {
		// Syntax first, so that a broken body is called broken rather than
		// refused for the first odd field found before the break.
		var v any
		return nil, syntaxProblem(json.Unmarshal(body, &v))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxProblem(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fieldErr("body", "%s; want a JSON object", jsonTypeOf(tok))
	}
	obj := object{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxProblem(err)
		}
		name, _ := tok.(string) // object keys are always strings
		spec, err := lookupField(name, specs)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fieldErr(name, "given twice")
		}
		seen[name] = true
		val, err := dec.Token()
		if err != nil {
			return nil, syntaxProblem(err)
		}
		if err := checkKind(name, spec.kind, val); err != nil {
			return nil, err
		}
		if val != nil {
			obj[name] = val
		}
	}
	return obj, nil
}

func lookupField(name string, specs []fieldSpec) (fieldSpec, error) {
	for _, s := range specs {
		if s.name == name {
			return s, nil
		}
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return fieldSpec{}, fieldErr(quote(name), "unknown field; this route takes %s", strings.Join(names, ", "))
}

// checkKind accepts val (a token) as a value of kind k, or null.
func checkKind(name string, k kind, val any) error {
	ok := false // objects and arrays are never a field's value
	switch val.(type) {
	case nil:
		ok = true
	case string:
		ok = k == kindString
	case bool:
		ok = k == kindBool
	case json.Number:
		ok = k == kindNumber || k == kindInteger
	}
	if !ok {
		return fieldErr(name, "want %s, got %s", k, jsonTypeOf(val))
	}
	return nil
}

// syntaxProblem names a JSON syntax error by its byte offset.
func syntaxProblem(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fieldErr("body", "not valid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return fieldErr("body", "not valid JSON")
}

// jsonTypeOf names the JSON type of a token.
func jsonTypeOf(tok any) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case json.Delim:
		if v == '[' {
			return "a JSON array"
		}
		return "a JSON object"
	}
	return "an unknown value"
}

func (o object) str(name string) (string, bool) {
	v, ok := o[name].(string)
	return v, ok
}

func (o object) boolean(name string) bool {
	v, _ := o[name].(bool)
	return v
}

// price reads a USD-per-GPU-per-hour field: positive, finite, at most 1000.
func (o object) price(name string, required bool) (float64, error) {
	n, ok := o[name].(json.Number)
	if !ok {
		if required {
			return 0, fieldErr(name, "required: a price in USD per GPU per hour, like 0.45")
		}
		return 0, nil
	}
	v, err := strconv.ParseFloat(n.String(), 64)
	switch {
	case err != nil || math.IsInf(v, 0) || math.IsNaN(v):
		return 0, fieldErr(name, "%s is out of range; want a positive number of USD per GPU per hour, at most %d", quote(n.String()), maxUSDPerGPUHour)
	case v <= 0:
		return 0, fieldErr(name, "want a positive number of USD per GPU per hour, got %s", quote(n.String()))
	case v > maxUSDPerGPUHour:
		return 0, fieldErr(name, "want at most %d USD per GPU per hour, got %s", maxUSDPerGPUHour, quote(n.String()))
	}
	return v, nil
}

// integer reads a whole number in [lo, hi], described by want; 0 when absent.
func (o object) integer(name string, lo, hi int64, want string) (int64, error) {
	n, ok := o[name].(json.Number)
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fieldErr(name, "want %s, got %s", want, quote(n.String()))
	}
	return v, nil
}

// Descriptions of the integer fields.
const (
	wantCount   = "the number of GPUs, a whole number from 1 to 16"
	wantOrderID = "the Clore order id, a positive whole number"
)

// hours reads the order's time to live: above 0, at most a year.
func (o object) hours() (float64, error) {
	n, ok := o["hours"].(json.Number)
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(v, 0) || v <= 0 || v > maxRentHours {
		return 0, fieldErr("hours", "want a number of hours above 0 and at most %d (a year), got %s", maxRentHours, quote(n.String()))
	}
	return v, nil
}

// gpuType reads and normalises the GPU model field (required), with the
// grammar's rules for a GPU name.
func (o object) gpuType() (string, error) {
	s, ok := o.str("gpu_type")
	if !ok || strings.TrimSpace(s) == "" {
		return "", fieldErr("gpu_type", `required: a GPU model like "RTX 4090", "4090", "A100 80GB" or "H100"`)
	}
	if n := utf8.RuneCountInString(s); n > maxGPUTypeChars {
		return "", fieldErr("gpu_type", "too long: %d characters, at most %d", n, maxGPUTypeChars)
	}
	for _, r := range s {
		if !isASCIIAlnum(r) && r != ' ' && r != '-' && r != '_' {
			return "", fieldErr("gpu_type", `may contain only letters, digits, spaces, "-" and "_", got %s`, quote(s))
		}
	}
	for _, w := range strings.Fields(s) {
		if !isASCIIAlnum(rune(w[0])) {
			return "", fieldErr("gpu_type", "every word of a GPU name starts with a letter or digit, got %s", quote(s))
		}
	}
	return commands.NormalizeGPU(s), nil
}

// reImageRef is the grammar's --image rule: a lower-case [registry/]repo
// path, an optional :tag and an optional @sha256:digest.
var reImageRef = regexp.MustCompile(`^` +
	`(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?/)?` +
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
	`(?:@sha256:[a-f0-9]{64})?$`)

func (o object) image() (string, error) {
	s, ok := o.str("image")
	if !ok || s == "" {
		return "", nil
	}
	if n := utf8.RuneCountInString(s); n > maxImageChars {
		return "", fieldErr("image", "too long: %d characters, at most %d", n, maxImageChars)
	}
	if !reImageRef.MatchString(s) {
		return "", fieldErr("image", "want a Docker image like nvidia/cuda:12.8.0-base-ubuntu22.04 (lower-case name, optional :tag or @sha256:digest), got %s", quote(s))
	}
	return s, nil
}

// callbackURL reads the optional address that receives the request's
// answers: an absolute http(s) URL without user name or password.
func (o object) callbackURL() (string, error) {
	s, ok := o.str("callback_url")
	if !ok || s == "" {
		return "", nil
	}
	if len(s) > maxCallbackURLChars {
		return "", fieldErr("callback_url", "too long: %d bytes, at most %d", len(s), maxCallbackURLChars)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fieldErr("callback_url", "not a URL: %s", quote(s))
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fieldErr("callback_url", "want an http or https URL, got %s", quote(s))
	case u.Host == "" || u.Hostname() == "":
		return "", fieldErr("callback_url", "want an absolute URL with a host, got %s", quote(s))
	case u.User != nil:
		return "", fieldErr("callback_url", "must not carry a user name or password")
	}
	return s, nil
}

func (o object) createOrder(b *Body) error {
	gpu, err := o.gpuType()
	if err != nil {
		return err
	}
	a := &commands.RentArgs{GPU: gpu, Count: 1, Spot: o.boolean("use_spot")}
	count, err := o.integer("count", 1, maxGPUCount, wantCount)
	if err != nil {
		return err
	}
	if count > 0 {
		a.Count = int(count)
	}
	if a.MaxPrice, err = o.price("max_price", false); err != nil {
		return err
	}
	if a.Image, err = o.image(); err != nil {
		return err
	}
	if a.Hours, err = o.hours(); err != nil {
		return err
	}
	if a.SSHKey, err = o.sshKey(); err != nil {
		return err
	}
	b.Command = commands.Command{Name: "rent", Rent: a}
	return nil
}

// sshKey reads an SSH public key, checked as the grammar's --ssh-key: with
// one, Clore installs it and no password is made.
func (o object) sshKey() (string, error) {
	s, ok := o.str("ssh_key")
	if !ok || s == "" {
		return "", nil
	}
	key, err := commands.ParseSSHKey(s)
	if err != nil {
		problem := strings.TrimLeft(strings.TrimPrefix(err.Error(), "--ssh-key"), ": ")
		return "", fieldErr("ssh_key", "%s", problem)
	}
	return key, nil
}

func (o object) cancelOrder(b *Body) error {
	if _, ok := o["order_id"]; !ok {
		return fieldErr("order_id", "required: the Clore order id, a whole number like 12345")
	}
	id, err := o.integer("order_id", 1, maxEntityID, wantOrderID)
	if err != nil {
		return err
	}
	b.Command = commands.Command{Name: "cancel", Cancel: &commands.CancelArgs{OrderID: id}}
	return nil
}

func (o object) priceAlert(b *Body) error {
	gpu, err := o.gpuType()
	if err != nil {
		return err
	}
	a := &commands.WatchArgs{Action: "create", GPU: gpu, AutoRent: o.boolean("auto_rent"), Count: 1}
	if a.MaxPrice, err = o.price("target_price", true); err != nil {
		return err
	}
	count, err := o.integer("count", 1, maxGPUCount, wantCount)
	if err != nil {
		return err
	}
	if count > 0 {
		a.Count = int(count)
	}
	// How the rent is made when the watch triggers (auto_rent, or Rent now).
	if a.Rent.Image, err = o.image(); err != nil {
		return err
	}
	if a.Rent.Hours, err = o.hours(); err != nil {
		return err
	}
	if a.Rent.SSHKey, err = o.sshKey(); err != nil {
		return err
	}
	a.Rent.Spot = o.boolean("use_spot")
	b.Command = commands.Command{Name: "watch", Watch: a}
	return nil
}

func (o object) status(b *Body) error {
	id, err := o.integer("order_id", 1, maxEntityID, wantOrderID)
	if err != nil {
		return err
	}
	b.Command = commands.Command{Name: "status", Status: &commands.StatusArgs{OrderID: id}}
	return nil
}

// errConfirmJobID is a confirm body that does not name its job.
var errConfirmJobID = fieldErr("job_id", `required: the job being confirmed, the same as in the path: {"job_id": "<id>"}`)

func (o object) confirm(b *Body) error {
	id, ok := o.str("job_id")
	if !ok || id == "" {
		return errConfirmJobID
	}
	b.JobID = id
	return nil
}

func (o object) command(b *Body) error {
	text, ok := o.str("text")
	if !ok || strings.TrimSpace(text) == "" {
		return &FieldError{Field: "text", Problem: "required: a command such as \"rent 4090 --hours 2\"", Usage: commands.Usage("")}
	}
	if len(text) > maxCommandTextBytes {
		return &FieldError{Field: "text", Problem: fmt.Sprintf("too long: %d bytes, at most %d", len(text), maxCommandTextBytes), Usage: commands.Usage("")}
	}
	cmd, err := commands.Parse(text)
	if ue, ok := errors.AsType[*commands.UsageError](err); ok {
		return &FieldError{Field: "text", Problem: ue.Problem, Usage: ue.Usage}
	} else if err != nil {
		return &FieldError{Field: "text", Problem: "not a command", Usage: commands.Usage("")}
	}
	b.Command = cmd
	return nil
}

// quote shows a value sent by the caller: at most 40 characters, quoted,
// with control and non-ASCII characters escaped.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxShownChars {
		s = string([]rune(s)[:maxShownChars]) + "…"
	}
	return strconv.QuoteToASCII(s)
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
