package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// CommandService is the part of the command layer the webhook routes call;
// *commands.Service implements it.
type CommandService interface {
	Handle(ctx context.Context, req commands.Request) commands.Reply
	// HandleOnce handles a command that creates a job (Command.CreatesJob)
	// and writes claim's dedup record, with the answer, in the job's
	// transaction (APIOptions.AtomicIntake).
	HandleOnce(ctx context.Context, req commands.Request, claim commands.DedupClaim) (commands.Reply, commands.DedupResult)
	Job(ctx context.Context, id string) (commands.Job, error)
	// DescribeJob is a job's machine shape, with its order.
	DescribeJob(ctx context.Context, j commands.Job) (commands.JobInfo, error)
	Market(ctx context.Context) ([]commands.ModelSummary, error)
	RoleOf(id string) commands.Role
	// ConfirmJob confirms a rent awaiting confirmation (above
	// policy.confirm_above), as chat's Rent now button does.
	ConfirmJob(ctx context.Context, req commands.Request, jobID string) commands.Reply
	// ConnectionDetails are a succeeded rent's connection details for its
	// requester (nil for anyone else, or not yet known).
	ConnectionDetails(ctx context.Context, user, jobID string) (*commands.PrivatePart, error)
}

// APIOptions configures the signed webhook routes of DESIGN.md §5.
type APIOptions struct {
	// Service runs the commands (required). Its policy gives each key's
	// identity, webhook:<name>, its role.
	Service CommandService
	// Keys are the inbound identities; a request signed by none gets 401.
	Keys []Key
	// LegacySignatures accepts the compatibility scheme (X-Webhook-Signature)
	// on the seed's POST routes (create-order, cancel-order, price-alert,
	// status, command); never on GETs or confirm.
	LegacySignatures bool
	// CallbackAllowPrivate lets a request's callback_url name a non-public
	// address (webhook.callback_allow_private: tests, single-host setups).
	// Off, a literal one is refused with 400 (see NonPublic).
	CallbackAllowPrivate bool
	// PublicMarketplace serves GET /webhook/marketplace without a signature.
	PublicMarketplace bool
	// Tolerance bounds signed timestamps in both directions (default 5 min).
	Tolerance time.Duration
	// DedupWindow is how long a message id is remembered (default 24 h).
	DedupWindow time.Duration
	// RatePerMinute and IPRatePerMinute are the token-bucket rates per key
	// and per remote address (bursts of the same size); 0 is unlimited.
	RatePerMinute, IPRatePerMinute int
	// Dedup remembers message ids and their answers; default a MemoryDedup
	// (one process only; serve passes the database).
	Dedup DedupStore
	// AtomicIntake hands the dedup record of a request whose command creates
	// a job (create-order, cancel-order, a command's rent or cancel) to the
	// command layer, which writes it with the job, its audit row and its
	// answer in one transaction (Service.HandleOnce); other requests claim
	// their id before they are processed. It requires Dedup to be the
	// command layer's database: serve passes the database to both.
	AtomicIntake bool
	// Connections hands a webhook rent's connection details, when it had no
	// callback_url, to the first signed GET /webhook/jobs/{id} of the key
	// that asked (then they are wiped). Nil: never. serve passes the
	// database.
	Connections ConnectionStore
	// Replies queues the answer of a synchronous request (POST
	// /webhook/status) for its callback_url; the Dispatcher sends it. Nil:
	// such answers go to the caller only. serve passes the database.
	Replies ReplyStore
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// TrustedProxies are the networks of the proxies in front of clorebot
	// (http.trusted_proxies): a request from one of them is attributed to
	// the client its X-Forwarded-For names (see remoteAddress). Empty: the
	// TCP peer is the client.
	TrustedProxies []netip.Prefix
}

// ReplyStore queues one delivery of an answer to a callback_url, as an
// outbox event of its own type (never fanned out to subscribers);
// *storage.Store implements it.
//
// EnqueueReply queues nothing new for a messageID it has queued before.
type ReplyStore interface {
	EnqueueReply(ctx context.Context, eventType string, data json.RawMessage, url, secretRef, messageID string, now time.Time) (int64, error)
}

// StatusReportEvent and CommandReplyEvent are the types of the deliveries
// that bring the answer of a status request, or of a command answered at
// once (/webhook/command), to its callback_url.
const (
	StatusReportEvent = "status.report"
	CommandReplyEvent = "command.reply"
)

// temporaryRetryAfter is the Retry-After of a 503 for a failure that is not
// the request's fault (Clore or storage).
const temporaryRetryAfter = 30

// API serves the signed webhook routes. Mount adds them to a Server.
type API struct {
	o      APIOptions
	svc    CommandService
	dedup  DedupStore
	keyLim *limiter
	ipLim  *limiter
	log    *slog.Logger
	// dedupWait bounds how long a duplicate waits for the first answer.
	dedupWait time.Duration
}

// NewAPI returns the webhook routes configured by o.
func NewAPI(o APIOptions) *API {
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dedup == nil {
		o.Dedup = NewMemoryDedup()
	}
	return &API{o: o, svc: o.Service, dedup: o.Dedup, log: o.Logger, dedupWait: dedupWait,
		keyLim: newLimiter(o.RatePerMinute), ipLim: newLimiter(o.IPRatePerMinute)}
}

func (a *API) now() time.Time { return a.o.Now() }

// route is one endpoint: a method pattern and what serves it once the
// request is admitted.
type route struct {
	pattern string
	name    string // DecodeBody's route for POST bodies; "" for GET routes
	public  bool   // served unsigned when APIOptions.PublicMarketplace
	// legacy accepts the compatibility scheme here (when it is on): the
	// seed's POST routes only.
	legacy bool
	// command routes run a command of the body through the command layer
	// (serveCommand): with AtomicIntake, one that creates a job is recorded
	// in its job's transaction.
	command bool
	// emptyBodyOK lets a POST without a body omit its Content-Type.
	emptyBodyOK bool
	serve       func(ctx context.Context, c *call) answer
}

// Mount registers the webhook routes on s. Unknown paths and methods get
// the Server's JSON 404 and 405.
func (a *API) Mount(s Mux) {
	for _, name := range []string{RouteCreateOrder, RouteCancelOrder, RoutePriceAlert, RouteStatus, RouteCommand} {
		rt := route{pattern: "POST /webhook/" + name, name: name, legacy: true, command: true}
		rt.serve = func(ctx context.Context, c *call) answer { return a.serveCommand(ctx, rt, c) }
		s.Handle(rt.pattern, a.handler(rt))
	}
	s.Handle("GET /webhook/jobs/{id}", a.handler(route{pattern: "GET /webhook/jobs/{id}", serve: a.serveJob}))
	confirm := route{pattern: "POST /webhook/jobs/{id}/confirm", name: RouteConfirm, emptyBodyOK: true}
	confirm.serve = func(ctx context.Context, c *call) answer { return a.serveConfirm(ctx, confirm, c) }
	s.Handle(confirm.pattern, a.handler(confirm))
	s.Handle("GET /webhook/marketplace", a.handler(route{pattern: "GET /webhook/marketplace", public: true, serve: a.serveMarket}))
}

// call is an admitted request.
type call struct {
	r    *http.Request
	body []byte
	key  string // the key that signed it; "" on a public route
	id   string // message id for dedup and idempotency; "" when none
	// replayID is a second id the request is deduplicated under: the
	// signed timestamp and body of a compatibility request that names its
	// own Idempotency-Key. "" when none.
	replayID string
	idHeader string // the header id came from, for errors
	// decoded is the body of a seed POST route once decoded and checked
	// (decodeCommand); nil before.
	decoded *Body
}

func (c *call) identity() string { return commands.PlatformWebhook + ":" + c.key }

// answer is an HTTP answer with a JSON body.
type answer struct {
	status     int
	body       []byte
	retryAfter int  // seconds; 0 for none
	replayed   bool // the first delivery's answer to a duplicate
	jobID      string
	// stored is what the dedup record keeps as the answer to duplicates
	// when it must differ from body (nil: body): connection details are
	// answered once and never stored there.
	stored []byte
}

func jsonAnswer(status int, v any) answer {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // usage lines hold <gpu>; the answer is JSON, never HTML
	if err := enc.Encode(v); err != nil {
		// Every answer type marshals; keep the contract anyway.
		return answer{status: http.StatusInternalServerError, body: []byte(`{"error":"internal error"}` + "\n")}
	}
	return answer{status: status, body: buf.Bytes()}
}

func errorAnswer(status int, msg string) answer {
	return jsonAnswer(status, errorBody{ErrorInfo: commands.ErrorInfo{Error: msg}})
}

// fieldAnswer is a 400 naming the request's field at fault.
func fieldAnswer(field, msg, usage string) answer {
	return jsonAnswer(http.StatusBadRequest, errorBody{ErrorInfo: commands.ErrorInfo{Error: msg, Field: commands.Nullable(field)}, Usage: usage})
}

// errorBody is every error answer: commands.ErrorInfo, with the command's
// usage line when a command text was at fault.
type errorBody struct {
	commands.ErrorInfo
	Usage string `json:"usage,omitempty"`
}

// conflictBody is a 409 answer: the request was refused because of an
// earlier one (JobID).
type conflictBody struct {
	Error string `json:"error"`
	JobID string `json:"job_id"`
	Hint  string `json:"hint"`
}

// handler runs the checks every route shares, in the documented order,
// then the route itself, and writes and logs the answer.
func (a *API) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c, ans, ok := a.admit(w, r, rt)
		if ok {
			ans = a.once(r.Context(), rt, c)
		}
		writeAnswer(w, ans)
		a.logRequest(r, rt, c, ans, time.Since(start))
	})
}

// admit checks the content type, the body's size, the signature and the
// key's rate, and returns the refusal when one fails. Only requests that
// fail before or at the signature count against their address's limit: a
// signed request counts against its key, so an unsigned flood from a shared
// address (a proxy, a NAT) cannot lock signed callers out.
func (a *API) admit(w http.ResponseWriter, r *http.Request, rt route) (*call, answer, bool) {
	c := &call{r: r}
	addr := remoteAddress(r, a.o.TrustedProxies)
	if !hasSignature(r.Header) {
		// Spare reading the body of an address already over its limit.
		if blocked, wait := a.ipLim.blocked(addr, a.now()); blocked {
			return c, rateLimited("address "+addr, a.o.IPRatePerMinute, wait), false
		}
	}
	refuse := func(ans answer) (*call, answer, bool) {
		if ok, wait := a.ipLim.allow(addr, a.now()); !ok {
			return c, rateLimited("address "+addr, a.o.IPRatePerMinute, wait), false
		}
		return c, ans, false
	}
	if r.Method == http.MethodPost && !(rt.emptyBodyOK && r.ContentLength == 0) {
		if msg := contentTypeProblem(r.Header); msg != "" {
			return refuse(errorAnswer(http.StatusUnsupportedMediaType, msg))
		}
	}
	body, ans, ok := readBody(w, r)
	if !ok {
		return refuse(ans)
	}
	c.body = body
	if rt.public && a.o.PublicMarketplace {
		if ok, wait := a.ipLim.allow(addr, a.now()); !ok {
			return c, rateLimited("address "+addr, a.o.IPRatePerMinute, wait), false
		}
		return c, answer{}, true
	}
	v, err := Verify(r.Header, body, a.o.Keys, VerifyOptions{Tolerance: a.o.Tolerance, Legacy: a.o.LegacySignatures && rt.legacy, Now: a.o.Now})
	if err != nil {
		msg := "signature: refused"
		if se, ok := errors.AsType[*SignatureError](err); ok {
			msg = se.Error()
		}
		return refuse(errorAnswer(http.StatusUnauthorized, msg))
	}
	c.key, c.id, c.idHeader = v.Key, v.ID, sigHeaderID
	if v.Scheme == SchemeLegacy {
		legacyIDs(c, rt, v)
	}
	if ok, wait := a.keyLim.allow(c.key, a.now()); !ok {
		return c, rateLimited("key "+c.key, a.o.RatePerMinute, wait), false
	}
	return c, answer{}, true
}

// hasSignature reports whether a request carries either scheme's signature.
func hasSignature(h http.Header) bool {
	return len(h.Values(sigHeaderSignature)) > 0 || len(h.Values(sigHeaderLegacySignature)) > 0
}

// legacyIDs sets the ids a compatibility request is deduplicated under. Its
// Idempotency-Key is not signed, so a replay may carry any: a timestamped
// request is also claimed under its timestamp and body, and a write without
// a timestamp under its route and body for the whole dedup window, so that
// the same body twice acts once. Status, a read, is deduplicated by its
// Idempotency-Key only.
func legacyIDs(c *call, rt route, v Verified) {
	c.idHeader = sigHeaderIdempotencyKey
	var replay, replayHeader string
	switch {
	case !v.Timestamp.IsZero():
		sum := sha256.Sum256(c.body)
		replay = "ts-" + strconv.FormatInt(v.Timestamp.Unix(), 10) + "-" + hex.EncodeToString(sum[:16])
		replayHeader = sigHeaderLegacyTimestamp
	case rt.name != RouteStatus:
		h := sha256.New()
		h.Write([]byte(rt.pattern + "\n"))
		h.Write(c.body)
		replay = "body-" + hex.EncodeToString(h.Sum(nil)[:16])
		replayHeader = sigHeaderLegacySignature
	}
	if c.id == "" {
		c.id, c.idHeader = replay, replayHeader
		return
	}
	c.replayID = replay
}

func rateLimited(who string, perMinute int, wait time.Duration) answer {
	secs := retryAfterSeconds(wait)
	ans := errorAnswer(http.StatusTooManyRequests,
		fmt.Sprintf("rate limit: %s is over %d requests per minute; retry after %ds", who, perMinute, secs))
	ans.retryAfter = secs
	return ans
}

// contentTypeProblem accepts application/json, with an optional UTF-8
// charset parameter and nothing else.
func contentTypeProblem(h http.Header) string {
	vals := h.Values("Content-Type")
	switch {
	case len(vals) == 0 || strings.TrimSpace(vals[0]) == "":
		return "Content-Type: missing; want application/json"
	case len(vals) > 1:
		return "Content-Type: given more than once; want one application/json"
	}
	mt, params, err := mime.ParseMediaType(vals[0])
	if err != nil {
		return "Content-Type: not a media type; want application/json"
	}
	if mt != "application/json" {
		return "Content-Type: " + quote(mt) + " is not supported; want application/json"
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return "Content-Type: only the parameter charset=utf-8 is supported with application/json"
		}
	}
	return ""
}

// readBody reads the body once, capped at MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, answer, bool) {
	tooLarge := errorAnswer(http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes (1 MiB)", MaxBodyBytes))
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge, false
		}
		return nil, errorAnswer(http.StatusBadRequest, "body: could not be read"), false
	}
	return body, answer{}, true
}

// once runs an admitted request once per message id. Every signed request
// claims its id, GETs included, bound to its method, path and body: the
// same id on another route or method is refused (422), so the headers of a
// signed read can never be replayed as a write; a duplicate gets the first
// answer. A failure that is not the request's fault (5xx) drops the claim,
// so that a retry is processed afresh.
func (a *API) once(ctx context.Context, rt route, c *call) answer {
	if c.id == "" {
		return rt.serve(ctx, c)
	}
	if a.o.AtomicIntake && rt.command {
		if b, _, ok := a.decodeCommand(rt, c); ok && b.Command.CreatesJob() {
			return a.onceAtomic(ctx, rt, c, b)
		}
	}
	claimed, ans, ok := a.claimAll(ctx, c)
	if !ok {
		return ans
	}
	// The claim is answered whatever becomes of the caller's connection.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), processTimeout)
	defer cancel()
	ans = rt.serve(pctx, c)
	if ans.status >= 500 {
		a.release(ctx, c, claimed)
		return ans
	}
	record := ans.body
	if ans.stored != nil {
		record = ans.stored
	}
	// Recording gets time of its own, however long the command took.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer fcancel()
	for _, id := range claimed {
		if err := a.dedup.FinishWebhook(fctx, c.key, id, ans.status, record, a.now()); err != nil {
			// Duplicates wait, then take the stale claim over; the command
			// layer's idempotency key keeps that from creating a second job.
			a.log.LogAttrs(ctx, slog.LevelError, "recording a webhook answer failed",
				slog.String("key", c.key), slog.String("webhook_id", id), slog.Any("error", err))
		}
	}
	return ans
}

// claimAll claims every id of c. When one is a duplicate it releases the
// ones claimed so far and returns the duplicate's answer.
func (a *API) claimAll(ctx context.Context, c *call) (claimed []string, refused answer, ok bool) {
	hash := requestHash(c.r.Method, c.r.URL.Path, c.body)
	for _, id := range []string{c.id, c.replayID} {
		if id == "" {
			continue
		}
		first, prev, err := a.claim(ctx, c.key, id, hash)
		var ans answer
		switch {
		case errors.Is(err, errIDReused):
			ans = idReusedAnswer(c)
		case errors.Is(err, errStillProcessing):
			ans = stillProcessingAnswer(c)
		case err != nil:
			ans = a.internal(ctx, "claiming a webhook message id", err)
		case !first:
			ans = answer{status: prev.status, body: prev.body, replayed: true}
		default:
			claimed = append(claimed, id)
			continue
		}
		a.release(ctx, c, claimed)
		return nil, ans, false
	}
	return claimed, answer{}, true
}

func idReusedAnswer(c *call) answer {
	return errorAnswer(http.StatusUnprocessableEntity, c.idHeader+
		": already used for a different request (another body, method or route); send a new id for a new request")
}

func stillProcessingAnswer(c *call) answer {
	ans := errorAnswer(http.StatusConflict, c.idHeader+": the first delivery of this id is still being processed; retry later")
	ans.retryAfter = 1
	return ans
}

// release drops claims that have no answer, so that a retry is processed.
func (a *API) release(ctx context.Context, c *call, claimed []string) {
	for _, id := range claimed {
		if err := a.dedup.ForgetWebhook(context.WithoutCancel(ctx), c.key, id); err != nil {
			a.log.LogAttrs(ctx, slog.LevelError, "releasing a webhook claim failed",
				slog.String("key", c.key), slog.String("webhook_id", id), slog.Any("error", err))
		}
	}
}

// serveCommand decodes a seed route's POST body and runs its command.
func (a *API) serveCommand(ctx context.Context, rt route, c *call) answer {
	b, ans, ok := a.decodeCommand(rt, c)
	if !ok {
		return ans
	}
	return a.run(ctx, rt, c, b)
}

// decodeCommand decodes a seed route's POST body once and checks its
// callback_url, or answers 400 naming the field at fault.
func (a *API) decodeCommand(rt route, c *call) (Body, answer, bool) {
	if c.decoded != nil {
		return *c.decoded, answer{}, true
	}
	b, ans, ok := decode(rt, c)
	if !ok {
		return b, ans, false
	}
	if b.CallbackURL != "" && !a.o.CallbackAllowPrivate {
		if problem := callbackHostProblem(b.CallbackURL); problem != "" {
			return b, fieldAnswer("callback_url", "callback_url: "+problem, ""), false
		}
	}
	c.decoded = &b
	return b, answer{}, true
}

// decode reads a route's body, or answers 400 naming the field at fault.
func decode(rt route, c *call) (Body, answer, bool) {
	b, err := DecodeBody(rt.name, c.body)
	if err != nil {
		if fe, ok := errors.AsType[*FieldError](err); ok {
			field := fe.Field
			if field == "body" || field == "route" {
				field = "" // the body as a whole: no one field
			}
			return b, fieldAnswer(field, fe.Error(), fe.Usage), false
		}
		return b, errorAnswer(http.StatusBadRequest, "body: not accepted"), false
	}
	return b, answer{}, true
}

// serveConfirm confirms the rent job of the path for the key, or for an
// admin key. The body names the job too, so that the signature covers it.
func (a *API) serveConfirm(ctx context.Context, rt route, c *call) answer {
	id := c.r.PathValue("id")
	if ans, ok := checkJobID(id); !ok {
		return ans
	}
	b, ans, ok := decode(rt, c)
	if !ok {
		return ans
	}
	if b.JobID != id {
		return fieldAnswer("job_id", "job_id: "+quote(b.JobID)+" is not the job of the path ("+id+"); send {\"job_id\": \""+id+"\"}", "")
	}
	reply := a.svc.ConfirmJob(ctx, commands.Request{
		Platform: commands.PlatformWebhook, User: c.identity(), UserName: c.key, Channel: commands.PlatformWebhook,
	}, id)
	return a.replyAnswer(ctx, rt, reply.Public(), nil)
}

// run hands the command to the command layer.
func (a *API) run(ctx context.Context, rt route, c *call, b Body) answer {
	reply := a.svc.Handle(ctx, a.request(c, b))
	ans := a.replyAnswer(ctx, rt, reply.Public(), b.Notes)
	a.answerCallback(ctx, rt, c, b, ans)
	return ans
}

// request is the command layer's request for c's command b.
func (a *API) request(c *call, b Body) commands.Request {
	idem := ""
	if c.id != "" {
		idem = commands.PlatformWebhook + ":" + c.key + ":" + c.id
	}
	cmd := b.Command
	return commands.Request{
		Platform: commands.PlatformWebhook, User: c.identity(), UserName: c.key, Channel: commands.PlatformWebhook,
		ReplyTarget: b.CallbackURL, IdempotencyKey: idem, Command: &cmd,
	}
}

// answerCallback queues the answer of a status request, or of a command
// answered at once, for the request's callback_url.
func (a *API) answerCallback(ctx context.Context, rt route, c *call, b Body, ans answer) {
	if b.CallbackURL != "" && ans.status == http.StatusOK && (rt.name == RouteStatus || rt.name == RouteCommand) {
		typ := CommandReplyEvent
		if rt.name == RouteStatus {
			typ = StatusReportEvent
		}
		a.sendToCallback(ctx, c, typ, b.CallbackURL, ans.body)
	}
}

// sendToCallback queues a status answer for the request's callback_url,
// signed later with the key's secret. A failure to queue is logged: the
// caller has the answer anyway.
func (a *API) sendToCallback(ctx context.Context, c *call, typ, url string, body []byte) {
	if a.o.Replies == nil {
		return
	}
	// One delivery per request: a request processed again (a stale claim
	// taken over) queues nothing new.
	msgID := NewMessageID()
	if c.id != "" {
		sum := sha256.Sum256([]byte(c.key + "\x00" + c.id))
		msgID = "msg_reply_" + hex.EncodeToString(sum[:16])
	}
	_, err := a.o.Replies.EnqueueReply(ctx, typ, json.RawMessage(body), url, keyRefPrefix+c.key, msgID, a.now())
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelError, "queueing a status answer for its callback failed",
			slog.String("key", c.key), slog.Any("error", err))
	}
}

// Answer bodies.
type (
	queuedBody struct {
		Status  string   `json:"status"`
		JobID   string   `json:"job_id"`
		Message string   `json:"message"`
		Notes   []string `json:"notes,omitempty"`
	}
	// okBody is an answer given at once. Orders are a status answer's
	// orders; Fields word the answer for people.
	okBody struct {
		Status  string           `json:"status"`
		Title   *string          `json:"title"`
		Message *string          `json:"message"`
		Fields  []commands.Field `json:"fields"`
		Orders  any              `json:"orders,omitempty"` // []commands.OrderInfo, [] included; nil: none
		Notes   []string         `json:"notes,omitempty"`
		// History is the data of a `market <gpu> --history` chart.
		History []commands.PriceHistory `json:"history,omitempty"`
	}
)

// Statuses of queued answers.
const (
	answerQueued               = "queued"
	answerAwaitingConfirmation = "awaiting_confirmation"
)

// replyAnswer maps the command layer's reply to the HTTP answer.
func (a *API) replyAnswer(ctx context.Context, rt route, r commands.Reply, notes []string) answer {
	r = r.Unmarked() // plain text: a webhook caller reads no chat marks
	var ans answer
	switch r.Status {
	case commands.StatusQueued:
		ans = jsonAnswer(http.StatusAccepted, queuedBody{Status: answerQueued, JobID: r.JobID, Message: r.Text, Notes: notes})
	case commands.StatusConfirm:
		// A webhook cannot click "Rent now": the job waits for the
		// requester's or an admin's confirmation (see README).
		notes = append(notes, "confirm with a signed POST /webhook/jobs/"+r.JobID+"/confirm from this key or an admin key")
		ans = jsonAnswer(http.StatusAccepted, queuedBody{Status: answerAwaitingConfirmation, JobID: r.JobID, Message: r.Text, Notes: notes})
	case commands.StatusOK:
		status := http.StatusOK
		if rt.name == RoutePriceAlert {
			status = http.StatusCreated
		}
		fields := r.Fields
		if fields == nil {
			fields = []commands.Field{}
		}
		body := okBody{Status: "ok", Title: commands.Nullable(r.Title), Message: commands.Nullable(r.Text), Fields: fields, Notes: notes, History: r.History}
		if r.Orders != nil {
			body.Orders = r.Orders // a status answer: its orders, none included
		}
		ans = jsonAnswer(status, body)
	case commands.StatusError:
		if r.Temporary {
			// Not the request's fault: a retry may succeed, and the dedup
			// record is dropped so that it is processed afresh.
			ans = errorAnswer(http.StatusServiceUnavailable, r.Text)
			ans.retryAfter = temporaryRetryAfter
			if r.RetryAfter > 0 {
				ans.retryAfter = r.RetryAfter // e.g. warming up: a few seconds
			}
			break
		}
		if r.Conflict {
			ans = jsonAnswer(http.StatusConflict, conflictBody{Error: r.Text, JobID: r.JobID,
				Hint: "to repeat a request, sign it with " + sigHeaderLegacyTimestamp + " (or use Standard Webhooks)"})
			break
		}
		ans = jsonAnswer(http.StatusBadRequest, errorBody{ErrorInfo: commands.ErrorInfo{Error: r.Text}, Usage: r.Usage})
	case commands.StatusDenied:
		ans = errorAnswer(http.StatusForbidden, r.Text)
	default:
		return a.internal(ctx, "answering a webhook", fmt.Errorf("unexpected reply status %q", r.Status))
	}
	ans.jobID = r.JobID
	return ans
}

// jobBody is GET /webhook/jobs/{id}'s answer: the job (commands.JobInfo)
// and its kind-specific result (null until it has one). The order's ssh
// holds a rent's connection details (SSH password included) in the first
// answer to the key that asked, when its request had no callback_url; they
// are wiped then.
type jobBody struct {
	commands.JobInfo
	Result json.RawMessage `json:"result"`
	Notes  []string        `json:"notes,omitempty"`
}

const maxJobIDChars = 64

// checkJobID refuses a path's job id that no job can have.
func checkJobID(id string) (answer, bool) {
	if id == "" || len(id) > maxJobIDChars || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
		return errorAnswer(http.StatusBadRequest, "job id: want the job_id of a 202 answer (letters and digits, at most 64), got "+quote(id)), false
	}
	return answer{}, true
}

// serveJob shows a job to the key that created it, or to an admin key.
func (a *API) serveJob(ctx context.Context, c *call) answer {
	id := c.r.PathValue("id")
	if ans, ok := checkJobID(id); !ok {
		return ans
	}
	role := a.svc.RoleOf(c.identity())
	if role < commands.RoleViewer {
		return errorAnswer(http.StatusForbidden, "reading jobs needs the viewer role; "+c.identity()+" has "+role.String())
	}
	notYours := errorAnswer(http.StatusNotFound, "no job "+id+" of key "+c.key)
	job, err := a.svc.Job(ctx, id)
	switch {
	case errors.Is(err, commands.ErrNotFound):
		return notYours
	case err != nil:
		return a.internal(ctx, "reading a job", err)
	case job.RequestedBy != c.identity() && role < commands.RoleAdmin:
		return notYours
	}
	info, err := a.svc.DescribeJob(ctx, job)
	if err != nil {
		return a.internal(ctx, "describing a job", err)
	}
	body := jobBody{JobInfo: info, Result: job.Result}
	if len(body.Result) == 0 {
		body.Result = json.RawMessage("null")
	}
	if job.RequestedBy != c.identity() || job.Kind != commands.JobRent || job.State != commands.JobSucceeded || a.o.Connections == nil {
		return jsonAnswer(http.StatusOK, body)
	}
	return a.handOver(ctx, c, body)
}

// handOver answers a succeeded rent's requester with its connection
// details, once: a duplicate of this request gets the answer without them.
func (a *API) handOver(ctx context.Context, c *call, body jobBody) answer {
	conn, ok, err := a.o.Connections.TakeConnection(ctx, body.JobID)
	if err == nil && !ok {
		conn, ok, err = a.recoverConnection(ctx, c, body.JobID)
	}
	if err != nil {
		return a.internal(ctx, "taking a job's connection details", err)
	}
	if !ok {
		return jsonAnswer(http.StatusOK, body)
	}
	kept := body
	kept.Notes = []string{"the connection details were in the first answer to this request, and are not kept"}
	ssh, err := connectionSSH(conn)
	if err != nil {
		return a.internal(ctx, "reading a job's connection details", err)
	}
	order := commands.OrderInfo{State: commands.OrderRunning}
	if body.Order != nil {
		order = *body.Order
	}
	order.SSH = ssh
	body.Order = &order
	ans := jsonAnswer(http.StatusOK, body)
	ans.stored = jsonAnswer(http.StatusOK, kept).body
	a.log.LogAttrs(ctx, slog.LevelInfo, "webhook connection details handed over",
		slog.String("key", c.key), slog.String("job_id", body.JobID))
	return ans
}

// recoverConnection hands over the connection details of a succeeded rent
// that never queued them (its process was killed between the job's success
// and CallbackNotifier.Notify): they are queued now from what the command
// layer has (EnqueueConnection does nothing for a job that queued them
// before: taken, delivered to its callback or wiped), then taken like any.
func (a *API) recoverConnection(ctx context.Context, c *call, jobID string) (json.RawMessage, bool, error) {
	pp, err := a.svc.ConnectionDetails(ctx, c.identity(), jobID)
	if err != nil || pp == nil {
		return nil, false, err
	}
	data, err := json.Marshal(commands.NewOrderConnectionEvent(jobID, pp))
	if err != nil {
		return nil, false, err
	}
	if err := a.o.Connections.EnqueueConnection(ctx, jobID, data, "", "", "", a.now()); err != nil {
		return nil, false, err
	}
	return a.o.Connections.TakeConnection(ctx, jobID)
}

// marketBody is GET /webhook/marketplace's answer.
type marketBody struct {
	Unit   string                 `json:"unit"`
	Models []commands.MarketModel `json:"models"`
}

func (a *API) serveMarket(ctx context.Context, c *call) answer {
	if c.key != "" {
		if role := a.svc.RoleOf(c.identity()); role < commands.RoleViewer {
			return errorAnswer(http.StatusForbidden, "the marketplace needs the viewer role; "+c.identity()+" has "+role.String())
		}
	}
	models, err := a.svc.Market(ctx)
	if errors.Is(err, commands.ErrWarmingUp) {
		ans := errorAnswer(http.StatusServiceUnavailable, "warming up: the marketplace snapshot is not loaded yet, try again in a few seconds")
		ans.retryAfter = commands.WarmingUpRetryAfter
		return ans
	}
	if err != nil {
		ref := newRef()
		a.log.LogAttrs(ctx, slog.LevelError, "marketplace for a webhook failed", slog.String("ref", ref), slog.Any("error", err))
		return errorAnswer(http.StatusBadGateway, "the Clore marketplace is not available right now (ref "+ref+")")
	}
	return jsonAnswer(http.StatusOK, marketBody{Unit: "USD per GPU per hour", Models: commands.NewMarketModels(models)})
}

// internal logs an internal failure under a reference the caller can quote.
func (a *API) internal(ctx context.Context, op string, err error) answer {
	ref := newRef()
	a.log.LogAttrs(ctx, slog.LevelError, op+" failed", slog.String("ref", ref), slog.Any("error", err))
	return errorAnswer(http.StatusInternalServerError, "internal error (ref "+ref+")")
}

func newRef() string { return strings.ToLower(rand.Text()[:8]) }

func writeAnswer(w http.ResponseWriter, ans answer) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if ans.replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	if ans.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ans.retryAfter))
	}
	if ans.status == http.StatusRequestEntityTooLarge {
		h.Set("Connection", "close")
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

// logRequest logs one line per request, without its body or any secret, at
// the level its outcome deserves: ERROR for a failure of ours (5xx), WARN
// for a request refused for who sent it (401: no valid signature; 403:
// policy), INFO for a write served and for other refusals (bad input, a
// rate limit: the caller's to fix), DEBUG for a read served (scripts poll
// jobs and the marketplace). A refusal's line carries the error it was
// answered with, which never holds a secret.
func (a *API) logRequest(r *http.Request, rt route, c *call, ans answer, took time.Duration) {
	ctx := r.Context()
	level := requestLevel(r.Method, ans.status)
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("route", rt.pattern), slog.Int("status", ans.status), slog.String("key", c.key),
		slog.String("webhook_id", c.id), slog.String("job_id", ans.jobID), slog.Bool("replayed", ans.replayed),
		slog.String("remote", remoteAddress(r, a.o.TrustedProxies)), slog.Duration("took", took),
	}
	if ans.status >= 400 {
		var e errorBody
		if json.Unmarshal(ans.body, &e) == nil && e.Error != "" {
			attrs = append(attrs, slog.String("error", e.Error))
		}
	}
	a.log.LogAttrs(ctx, level, "webhook request", attrs...)
}

// requestLevel is the log level of a request's outcome (logRequest).
func requestLevel(method string, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return slog.LevelWarn
	case status >= 400:
		return slog.LevelInfo
	case method == http.MethodGet:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// ConfiguredKey builds the Key of a configured webhook key: the Standard
// Webhooks HMAC key from the secret (ParseSecret) and the compatibility
// scheme's key, the secret string's raw bytes. Errors never quote the secret.
func ConfiguredKey(name, secret string) (Key, error) {
	k, err := ParseSecret(secret)
	if err != nil {
		return Key{}, fmt.Errorf("webhook: key %s: %w", name, err)
	}
	return Key{Name: name, Secret: k, Legacy: []byte(secret)}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
