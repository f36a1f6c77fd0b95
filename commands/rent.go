package commands

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// rentParams is a rent job's input, fixed when the command arrives.
type rentParams struct {
	Query          string   `json:"query"`
	Models         []string `json:"models"`
	Count          int      `json:"count"`
	MaxPerGPU      float64  `json:"max_per_gpu"`
	Spot           bool     `json:"spot"`
	Image          string   `json:"image"`
	Hours          float64  `json:"hours"`
	Currency       string   `json:"currency,omitempty"`
	MinReliability float64  `json:"min_reliability"`
	Prefer         int64    `json:"prefer,omitempty"`
	SSHKey         string   `json:"ssh_key,omitempty"`
	// SSHPassword is generated when no key is given. It lives only in the
	// job's row (local storage) until it is delivered privately; it is never
	// logged, audited, put in events or in the job's public result.
	SSHPassword string `json:"ssh_password,omitempty"`
	// Ceiling is the most per GPU per hour the user (--max-price) and the
	// team (policy.max_price_per_hour) allow, 0 for no limit; MaxPerGPU is
	// the price bound within it. A fail-over above the bound but within the
	// ceiling asks for confirmation. nil in jobs stored before it was kept.
	Ceiling *float64 `json:"ceiling,omitempty"`
	// Shown is the offer the rent was quoted at intake (Prefer is its
	// server): a redelivery of the request is answered with it, whatever
	// the marketplace or the quotes of rents in flight say by then. nil in
	// jobs stored before it was kept.
	Shown *offerChoice `json:"shown,omitempty"`
}

func (p rentParams) want(exclude []int64) want {
	return want{Models: p.Models, Count: p.Count, MaxPerGPU: p.MaxPerGPU, Spot: p.Spot, Currency: p.Currency,
		MinReliability: p.MinReliability, Exclude: exclude, Prefer: p.Prefer}
}

// rentParamsFrom applies defaults and the price cap to the parsed arguments.
func (s *Service) rentParamsFrom(a *RentArgs, models []string) (rentParams, error) {
	p := rentParams{Query: a.GPU, Models: models, Count: max(a.Count, 1), MaxPerGPU: a.MaxPrice, Spot: a.Spot,
		Image: a.Image, Hours: a.Hours, Currency: a.Currency, MinReliability: s.policy.MinReliability, SSHKey: a.SSHKey}
	if a.MinReliability != nil {
		p.MinReliability = *a.MinReliability
	}
	if p.Image == "" {
		p.Image = s.o.DefaultImage
	}
	if p.Hours == 0 {
		p.Hours = s.policy.DefaultHours
	}
	if s.policy.MaxHours > 0 && p.Hours > s.policy.MaxHours {
		return p, &UsageError{Command: "rent", Problem: fmt.Sprintf("--hours %g is above the team's maximum of %g", p.Hours, s.policy.MaxHours), Usage: Usage("rent")}
	}
	if cap := s.policy.MaxPricePerHour; cap > 0 {
		if p.MaxPerGPU > cap*(1+1e-9) {
			return p, deny("--max-price %s is above the team's cap of %s per GPU per hour", usd(p.MaxPerGPU), usd(cap))
		}
		if p.MaxPerGPU == 0 {
			p.MaxPerGPU = cap
		}
	}
	if p.SSHKey == "" {
		p.SSHPassword = newPassword()
	}
	ceiling := p.MaxPerGPU
	p.Ceiling = &ceiling
	return p, nil
}

// handleRent checks everything that can be checked without renting, then
// queues the job (or asks for confirmation above policy.ConfirmAbove).
func (s *Service) handleRent(ctx context.Context, req Request, a *RentArgs, rec *intakeRecord) (Reply, *float64) {
	snap, err := s.snapshot()
	if err != nil {
		return s.fail(ctx, "rent", err), nil
	}
	models, err := resolveGPUIn("rent", a.GPU, snap.modelNames())
	if err != nil {
		return errorReply(err), nil
	}
	p, err := s.rentParamsFrom(a, models)
	if err != nil {
		return errorReply(err), nil
	}
	quoted, ok, err := s.quote(ctx, snap, p.want(nil))
	if err != nil {
		return s.fail(ctx, "rent", err), nil
	}
	if !ok {
		return s.storedRent(ctx, req, Reply{Status: StatusError, Visibility: Ephemeral, Done: true,
			Text: noOfferText(p, snap.offersOf(models))}), nil
	}
	if quoted.free {
		defer s.quotes.release(quoted.ServerID)
	}
	best := quoted.offerChoice
	if err := s.policy.checkPrice(best.USDPerGPU()); err != nil {
		return s.storedRent(ctx, req, errorReply(err)), nil
	}
	// The quote is checked again in the transaction that stores the job,
	// against the servers the database says other rents in flight were
	// quoted or hold (this process's or another's): the usual answer is
	// that it stands. When a rent committed since the look took it, the
	// store says which candidates are spoken for and writes nothing; the
	// rent is then quoted again from that and submitted anew.
	asked, check := p, quoted.free
	for requotes := 0; ; requotes++ {
		r, price, err := s.submitRent(ctx, req, rec, asked, best, snap.asked, quoted.candidates, quoted.free, check)
		var taken *QuoteTaken
		if !errors.As(err, &taken) {
			if err != nil {
				return s.fail(ctx, "rent", err), nil
			}
			return r, &price
		}
		// Quoted again: the best server that neither the database (as the
		// refusing transaction saw it) nor a pending quote of this process
		// speaks for, held as this rent's pending quote until its intake
		// returned, so that no other rent of the burst is quoted it.
		choice, ok, held := s.quotes.firstFree(snap, asked.want(nil), taken.Spoken)
		if !ok { // not for want of offers (quote found one): keep the quote, unchecked
			check = false
			continue
		}
		if held {
			defer s.quotes.release(choice.ServerID) // once the intake returned
		}
		if err := s.policy.checkPrice(choice.USDPerGPU()); err != nil {
			return errorReply(err), nil
		}
		// Every candidate spoken for (not held: the last one, as quote
		// does), or quoted again maxRequotes times already: stored
		// unchecked, and the job meets what is left when it runs. The
		// quote refused is never stored: its server is another rent's.
		best, check = choice, held && requotes < maxRequotes
	}
}

// storedRent is the answer to a rent refused from the marketplace as it is
// now (no offer, a price above the cap) unless a first delivery of the
// request stored its job already: then the stored job's answer
// (rentReply), as a redelivery that reaches the intake gets it. Refusals
// only, so a rent's usual path pays nothing for the read.
func (s *Service) storedRent(ctx context.Context, req Request, refusal Reply) Reply {
	if req.IdempotencyKey == "" {
		return refusal
	}
	job, err := s.store.JobByKey(ctx, req.IdempotencyKey)
	if err != nil || job.Kind != JobRent || job.RequestedBy != req.User {
		return refusal
	}
	return rentReply(job, storedQuote(job))
}

// maxRequotes bounds how often a rent is quoted again because rents
// committed since its look took its quote; its next quote (free when the
// last refusal was written, and held) is then stored unchecked.
const maxRequotes = 3

// submitRent stores the rent asked, quoted best, with its guardrails (and,
// when quoted from free candidates, the quote: checked unless check is
// false) counted in the intake transaction, and returns its reply and the
// order's price per hour shown. A *QuoteTaken error means nothing was
// written: a rent committed since the look took best.
func (s *Service) submitRent(ctx context.Context, req Request, rec *intakeRecord, asked rentParams, best offerChoice,
	takenSince time.Time, candidates []int64, free, check bool) (Reply, float64, error) {
	p, state := s.quotedParams(asked, best)
	// The counted caps are checked in the transaction that stores the job
	// (one awaiting confirmation is checked now and again when confirmed).
	reserve := reservation(p, best)
	price := best.USDPerHour
	var qc *QuoteCheck
	if free {
		qc = &QuoteCheck{TakenSince: takenSince, Quoted: best.ServerID, Candidates: candidates, Unchecked: !check}
	}
	r, err := s.submit(ctx, req, rec, Job{Kind: JobRent, State: state, USDPerHour: reserve}, p, s.quotedGuard(req.User, reserve, p.Hours, qc),
		nil, &price, func(job Job, created bool) Reply {
			if created {
				return rentReply(job, &best)
			}
			// Another delivery of this request stored the job: its answer
			// is the stored job's quote, not the one this delivery made
			// (the market may have moved, and this delivery's quote was
			// never stored), and so is the price audited.
			shown := storedQuote(job)
			if shown != nil {
				price = shown.USDPerHour
			}
			return rentReply(job, shown)
		})
	return r, price, err
}

// storedQuote is the offer rent job was quoted at intake, as its params
// keep it; nil for a job stored before they kept it.
func storedQuote(job Job) *offerChoice {
	var p rentParams
	if json.Unmarshal(job.Params, &p) != nil {
		return nil
	}
	return p.Shown
}

// rentReply is the answer to the request that made the rent job: its
// quote shown, or to confirm. shown is the offer it was quoted; nil (a job
// stored before its params kept it) names what the job rents without a
// price.
func rentReply(job Job, shown *offerChoice) Reply {
	if shown == nil {
		var p rentParams
		_ = json.Unmarshal(job.Params, &p)
		if job.State == JobAwaitingConfirmation {
			return Reply{Status: StatusConfirm, Visibility: Ephemeral, JobID: job.ID, Title: "Confirm the rent",
				Text: fmt.Sprintf("%s ×%d on server %d is above the team's confirmation threshold.", p.Query, p.Count, p.Prefer),
				Buttons: []Button{{ActionID: "confirm:" + job.ID, Label: "Rent now", Value: job.ID,
					Confirm: fmt.Sprintf("Rent %s ×%d?", p.Query, p.Count), Danger: true}},
			}
		}
		return queuedReply(job, fmt.Sprintf("Renting %s ×%d…", p.Query, p.Count))
	}
	if job.State == JobAwaitingConfirmation {
		return confirmReply(job, *shown)
	}
	return queuedReply(job, fmt.Sprintf("Renting %s ×%d from %s/GPU/h (%s/h in all%s)…",
		shown.Model, shown.GPUCount, usd(shown.USDPerGPU()), usd(shown.USDPerHour), shown.creationFeeNote()))
}

// quotedParams are the parameters of a rent asked as asked and quoted c,
// and the state its job starts in: it prefers c's server, its price bound
// is c's (priceBound), and above policy.confirm_above it awaits
// confirmation.
func (s *Service) quotedParams(asked rentParams, c offerChoice) (rentParams, string) {
	confirm := s.policy.ConfirmAbove > 0 && c.USDPerHour > s.policy.ConfirmAbove
	p := asked
	p.Prefer = c.ServerID // the server quoted, first if still free when the job runs
	p.Shown = &c          // what the requester is shown, for a redelivery's answer
	p.MaxPerGPU = s.priceBound(asked, c, confirm)
	if confirm {
		return p, JobAwaitingConfirmation
	}
	return p, JobQueued
}

// priceTolerance is how far above the price shown at intake (or the price
// confirmed) a rent may go when the marketplace moved before it ran.
const priceTolerance = 0.10

// priceBound is the most per GPU per hour a rent may pay when it runs
// (DESIGN §7): the smallest of what the user asked for (--max-price), the
// team's cap, and the price shown (the quoted best offer, or the one
// confirmed) + priceTolerance; a rent queued without confirmation also
// stays within policy.confirm_above in all. A fail-over to a dearer offer
// stops at a confirmation of its own (askConfirmation).
func (s *Service) priceBound(p rentParams, best offerChoice, confirm bool) float64 {
	bound := positiveMin(p.MaxPerGPU, best.USDPerGPU()*(1+priceTolerance))
	if !confirm && s.policy.ConfirmAbove > 0 {
		bound = positiveMin(bound, s.policy.ConfirmAbove/float64(max(p.Count, 1)))
	}
	return bound
}

// positiveMin is the smaller of a and b, 0 standing for no limit.
func positiveMin(a, b float64) float64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// reservation is what a rent reserves against the team's spend before it
// has chosen its offer (DESIGN §5): its price bound × count, so that a job
// never spends more than it reserved (a job stored before rents were
// bounded: the best offer's total).
func reservation(p rentParams, best offerChoice) float64 {
	if p.MaxPerGPU > 0 {
		return p.MaxPerGPU * float64(p.Count)
	}
	return best.USDPerHour
}

func noOfferText(p rentParams, offers []clore.Offer) string {
	kind := "on-demand"
	if p.Spot {
		kind = "spot"
	}
	text := fmt.Sprintf("No free %s ×%d %s offer at or below %s per GPU per hour with reliability ≥ %.0f%%",
		strings.Join(p.Models, "/"), p.Count, kind, usd(p.MaxPerGPU), p.MinReliability*100)
	if p.Currency != "" {
		text += " payable in " + currencyName(p.Currency)
	}
	relaxed := p.want(nil)
	relaxed.MaxPerGPU = 0
	if c := choose(offers, relaxed, nil); len(c) > 0 {
		text += fmt.Sprintf("; the cheapest is %s per GPU per hour", usd(c[0].USDPerGPU()))
	}
	return text + "."
}

func confirmReply(job Job, best offerChoice) Reply {
	return Reply{Status: StatusConfirm, Visibility: Ephemeral, JobID: job.ID,
		Title: "Confirm the rent",
		Text: fmt.Sprintf("%s ×%d on server %d costs %s per hour (%s per GPU%s), above the team's confirmation threshold.",
			best.Model, best.GPUCount, best.ServerID, usd(best.USDPerHour), usd(best.USDPerGPU()), best.creationFeeNote()),
		Buttons: []Button{{ActionID: "confirm:" + job.ID, Label: "Rent now", Value: job.ID,
			Confirm: fmt.Sprintf("Rent %s ×%d for %s per hour?", best.Model, best.GPUCount, usd(best.USDPerHour)), Danger: true}},
	}
}

// RepeatedReply refuses a request whose job exists already although its
// dedup record does not (DedupClaim.FromContent): nothing is created.
func RepeatedReply(job Job) Reply {
	return Reply{Status: StatusError, Conflict: true, Visibility: Ephemeral, Done: true, JobID: job.ID,
		Text: fmt.Sprintf("this request was already processed as job %s (%s); it is not repeated", job.ID, job.State)}
}

func queuedReply(job Job, text string) Reply {
	r := Reply{Status: StatusQueued, Text: text, JobID: job.ID, Visibility: Public}
	if chatPlatform(job.Platform) {
		r.RequestedBy = job.RequestedBy
	}
	return r
}

// submit stores a job of tmpl's Kind, State and USDPerHour under the
// request's idempotency key, checking g in the same transaction (nil: no
// counted cap), and returns its reply: ok's of the stored job (a duplicate
// request gets the first job, created false: its reply is the stored
// job's, not this request's), or g's refusal. The audit row (with order and
// price) and, under rec's claim, the answer are written in the same
// transaction. When the claim finds an earlier delivery, nothing is written
// and the reply is zero: rec.result has the recorded answer.
//
// When g.Quote finds its server taken, nothing is written and the error is
// the *QuoteTaken: the caller quotes again.
func (s *Service) submit(ctx context.Context, req Request, rec *intakeRecord, tmpl Job, params any, g *Guard,
	order *int64, price *float64, ok func(job Job, created bool) Reply) (Reply, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return Reply{}, fmt.Errorf("commands: encode params: %w", err)
	}
	key := req.IdempotencyKey
	if key == "" {
		key = req.Platform + ":" + randomID(12)
	}
	job := Job{
		ID: newJobID(s.clock.Now()), Kind: tmpl.Kind, IdempotencyKey: key, State: tmpl.State, RequestedBy: req.User,
		Platform: req.Platform, Channel: req.Channel, ReplyTarget: req.ReplyTarget, Params: raw,
		USDPerHour: tmpl.USDPerHour, CreatedAt: s.clock.Now(),
	}
	var r Reply
	replyTo := func(o IntakeOutcome) Reply {
		switch {
		case o.Refused != nil:
			return errorReply(o.Refused)
		case !o.Created && rec.claim != nil && rec.claim.FromContent:
			return RepeatedReply(o.Job)
		}
		return ok(o.Job, o.Created)
	}
	finish := s.finishWith(req, rec, order, price, replyTo, &r)
	// The usual outcome, this job created, is rendered here rather than in
	// the store's writer, whose time every request in the batch waits on.
	var accepted Reply
	created := s.finishWith(req, rec, order, price, replyTo, &accepted)(IntakeOutcome{Job: job, Created: true})
	unit := IntakeUnit{Dedup: rec.claim, Job: &job, Guard: g, Finish: func(o IntakeOutcome) IntakeWrites {
		var taken *QuoteTaken
		switch {
		case o.Created && o.Refused == nil && o.Job.ID == job.ID && o.Job.State == job.State:
			r = accepted
			return created
		case errors.As(o.Refused, &taken):
			return IntakeWrites{} // nothing: the request is submitted again, quoted anew
		}
		return finish(o)
	}}
	res, err := s.store.Intake(ctx, unit)
	if err != nil {
		return Reply{}, err
	}
	var taken *QuoteTaken
	if errors.As(res.Refused, &taken) {
		return Reply{}, taken
	}
	rec.recorded, rec.result = true, res.Dedup
	if st := res.Dedup.State; st != DedupRecorded && st != DedupNone {
		// A message handled before: nothing of this request was written,
		// and r, if Finish ran at all, is from an attempt rolled back,
		// never stored. The caller answers from res.Dedup.
		r = Reply{}
	}
	if res.Created && res.Job.State == JobQueued {
		s.enqueue(res.Job.ID)
	}
	return r, nil
}

// jobIDEncoding is lower-case base32hex: its digits sort as the values
// they encode.
var jobIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newJobID is a job id that sorts by creation time: 48 bits of
// milliseconds since 1970, then 48 random bits, in 20 characters. New jobs
// land at the end of the job id indexes instead of on a random page each,
// which spares every intake transaction page writes. Who may read a job is
// checked on each read (its requester or an admin), so the id need not be
// unguessable.
func newJobID(now time.Time) string {
	var b [12]byte
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	_, _ = rand.Read(b[6:])
	return jobIDEncoding.EncodeToString(b[:])
}

// newPassword is a random SSH password: 26 characters of base32, 130 bits
// (Clore takes up to 32 characters; alphanumeric passwords are known to work).
func newPassword() string { return rand.Text() }
