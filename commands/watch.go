package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultMaxWatchesPerUser bounds the active watches of one identity
// (policy.max_watches_per_user), so that a script gone wrong cannot fill
// the database or the tick.
const DefaultMaxWatchesPerUser = 100

// handleWatch sets, lists or cancels watches. A new watch is keyed by the
// request (Watch.IdempotencyKey): a redelivery finds the watch it set and
// gets the same answer. The owner's limit is counted in the transaction
// that inserts it, so that concurrent requests cannot pass it together.
func (s *Service) handleWatch(ctx context.Context, req Request, a *WatchArgs, rec *intakeRecord) Reply {
	switch a.Action {
	case "list":
		return s.listWatches(ctx, req)
	case "cancel":
		return s.cancelWatch(ctx, req, a.WatchID, rec)
	}
	offers, err := s.offers(ctx)
	if err != nil {
		return s.fail(ctx, "watch", err)
	}
	models, err := resolveGPU("watch", a.GPU, offers)
	if err != nil {
		return errorReply(err)
	}
	if max := s.policy.MaxHours; max > 0 && a.Rent.Hours > max {
		return errorReply(&UsageError{Command: "watch", Problem: fmt.Sprintf("hours %g is above the team's maximum of %g", a.Rent.Hours, max), Usage: Usage("watch")})
	}
	if a.AutoRent && s.policy.MaxPricePerHour > 0 && a.MaxPrice > s.policy.MaxPricePerHour*(1+1e-9) {
		return errorReply(deny("an auto-rent watch at %s per GPU per hour is above the team's cap of %s",
			usd(a.MaxPrice), usd(s.policy.MaxPricePerHour)))
	}
	w := Watch{Owner: req.User, OwnerRoles: req.Roles, Platform: req.Platform, Channel: req.Channel, ReplyTarget: req.ReplyTarget,
		GPUModel: a.GPU, Models: models, MaxUSDPerGPU: a.MaxPrice, Count: max(a.Count, 1), AutoRent: a.AutoRent, Rent: a.Rent,
		State: WatchActive, IdempotencyKey: req.IdempotencyKey}
	if a.For > 0 {
		until := s.clock.Now().Add(a.For)
		w.ExpiresAt = &until
	}
	limit := s.policy.MaxWatchesPerUser
	if limit <= 0 {
		limit = DefaultMaxWatchesPerUser
	}
	created, err := s.store.CreateWatch(ctx, &w, limit)
	var le *WatchLimitError
	switch {
	case errors.As(err, &le):
		return errorReply(deny("you have %d watches, the limit is %d; cancel one first (watch list)", le.Active, le.Limit))
	case err != nil:
		return s.fail(ctx, "watch", err)
	case !created:
		// A redelivery: the watch its first delivery set, answered alike.
		rec.repeated = true
	}
	return Reply{Status: StatusOK, Title: fmt.Sprintf("Watch #%d set", w.ID), Text: describeWatch(w), Visibility: Ephemeral, Done: true}
}

func describeWatch(w Watch) string {
	what := "alert"
	if w.AutoRent {
		what = "rent automatically"
	}
	gpu := w.GPUModel
	if len(w.Models) > 1 || len(w.Models) == 1 && w.Models[0] != w.GPUModel {
		gpu += " (" + strings.Join(w.Models, ", ") + ")"
	}
	text := fmt.Sprintf("%s when %s ×%d is offered at or below %s per GPU per hour", what, gpu, w.Count, usd(w.MaxUSDPerGPU))
	if w.ExpiresAt != nil {
		text += ", until " + w.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return text
}

func (s *Service) listWatches(ctx context.Context, req Request) Reply {
	owner := req.User
	if s.policy.Role(req.User, req.Roles...) >= RoleAdmin {
		owner = ""
	}
	ws, err := s.store.ListWatches(ctx, owner, WatchActive, WatchTriggered)
	if err != nil {
		return s.fail(ctx, "watch list", err)
	}
	r := Reply{Status: StatusOK, Title: "Price watches", Visibility: Ephemeral, Done: true}
	if len(ws) == 0 {
		r.Text = "No active watches."
		return r
	}
	prices, lastTick, err := s.store.WatchPrices(ctx)
	if err != nil {
		return s.fail(ctx, "watch list", err)
	}
	seen := make(map[priceKey]SeenPrice, len(prices))
	for _, p := range prices {
		seen[priceKey{p.Model, p.Count}] = p
	}
	if !lastTick.IsZero() {
		r.Text = "Last prices seen by the watch tick of " + timeOn(req.Platform, lastTick, TimeFull) + "."
	}
	for _, w := range ws {
		v := describeWatch(w)
		v = strings.ToUpper(v[:1]) + v[1:] + " · " + w.State
		v += " · " + lastSeen(seen, w, lastTick)
		if w.LastTriggeredAt != nil {
			v += " · last triggered " + timeOn(req.Platform, *w.LastTriggeredAt, TimeFull)
			if w.LastTriggerPrice != nil {
				v += " at " + usd(*w.LastTriggerPrice)
			}
		} else {
			v += " · never triggered"
		}
		if owner == "" {
			v += " · by " + mentionOn(req.Platform, w.Owner)
		}
		r.Fields = append(r.Fields, Field{Name: fmt.Sprintf("#%d", w.ID), Value: v})
	}
	return r
}

// lastSeen describes the last price the watch tick saw for w: the cheapest
// of its models still offered at the last tick, else the one seen last.
func lastSeen(seen map[priceKey]SeenPrice, w Watch, lastTick time.Time) string {
	var cur, gone SeenPrice
	for _, m := range w.Models {
		p, ok := seen[priceKey{m, max(w.Count, 1)}]
		switch {
		case !ok:
		case p.GoneAt == nil && (cur.Model == "" || p.USDPerGPU < cur.USDPerGPU):
			cur = p
		case p.GoneAt != nil && (gone.Model == "" || p.GoneAt.After(*gone.GoneAt)):
			gone = p
		}
	}
	switch {
	case cur.Model != "":
		return fmt.Sprintf("last price seen %s (server %d) at %s", usd(cur.USDPerGPU), cur.ServerID,
			lastTick.UTC().Format("15:04 MST"))
	case gone.Model != "":
		return fmt.Sprintf("last price seen %s (server %d), none offered since %s", usd(gone.USDPerGPU), gone.ServerID,
			gone.GoneAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	return "no price seen yet"
}

// cancelWatch ends a watch of the requester's (any, for an admin), keyed by
// the request: the cancel and its answer are written in one transaction,
// and a redelivery gets that answer.
func (s *Service) cancelWatch(ctx context.Context, req Request, id int64, rec *intakeRecord) Reply {
	if r, ok := s.answeredBefore(ctx, req, rec); ok {
		return r
	}
	w, err := s.store.GetWatch(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && w.Owner != req.User && s.policy.Role(req.User, req.Roles...) < RoleAdmin {
		return errorReply(&UsageError{Command: "watch", Problem: fmt.Sprintf("no watch #%d of yours", id)})
	}
	if err != nil {
		return s.fail(ctx, "watch cancel", err)
	}
	if w.State != WatchActive && w.State != WatchTriggered {
		if r, ok := s.answeredBefore(ctx, req, rec); ok {
			return r // a redelivery, beaten by its first delivery
		}
		return Reply{Status: StatusOK, Text: fmt.Sprintf("Watch #%d is already %s.", id, w.State), Visibility: Ephemeral, Done: true}
	}
	w.State = WatchCancelled
	r := Reply{Status: StatusOK, Text: fmt.Sprintf("Watch #%d cancelled.", id), Visibility: Ephemeral, Done: true}
	if record := s.requestRecord(req, rec, r); record != nil {
		err = s.store.CancelWatch(ctx, w, *record)
	} else {
		err = s.store.UpdateWatch(ctx, w)
	}
	switch {
	case errors.Is(err, ErrRepeated):
		return s.repeatedAnswer(ctx, req, rec)
	case errors.Is(err, ErrConflict):
		if r, ok := s.answeredBefore(ctx, req, rec); ok {
			return r // a redelivery, beaten by its first delivery
		}
		return errorReply(&UsageError{Command: "watch", Problem: fmt.Sprintf("watch #%d just changed; try again", id)})
	case err != nil:
		return s.fail(ctx, "watch cancel", err)
	}
	return r
}

// EvaluateWatches runs every live watch against the current marketplace
// snapshot (it never calls Clore: the tick refreshed the snapshot just
// before): expired watches end, armed ones whose price is met trigger,
// triggered alerts re-arm past the hysteresis, auto-rents whose rent
// succeeded end. Missed ticks are not replayed: one evaluation at the
// current time covers them. The watches come from memory (watchCache),
// brought up to date with what changed in the store since the last tick;
// the last price seen per model and count is written where it changed.
//
// An auto-rent about to rent for an owner who is a renter only through
// platform roles is held back: once the pass is over, the owners' front
// doors are asked for their current roles with no lock held (only those
// watches ask: a tick over many watches makes a call per such trigger, not
// per watch), and the held-back watches are decided again with the answers.
func (s *Service) EvaluateWatches(ctx context.Context) error {
	idx, at, err := s.priceIndex()
	if err != nil {
		return fmt.Errorf("commands: evaluate watches: %w", err)
	}
	now := s.clock.Now()
	held, errs, err := s.evaluatePass(ctx, idx, at, now, nil, nil)
	if err != nil || len(held) == 0 {
		return errors.Join(append(errs, err)...)
	}
	roles, err := s.askRoles(ctx, held)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	ids := make([]int64, len(held))
	for i, w := range held {
		ids[i] = w.ID
	}
	_, more, err := s.evaluatePass(ctx, idx, at, now, roles, ids)
	return errors.Join(append(append(errs, more...), err)...)
}

// evaluatePass evaluates, under watchMu, every live watch (roles nil) and
// returns the ones held back for their owners' current roles; or, with the
// roles asked for, only the watches of ids (a watch still without an
// answer, past maxRoleLookups, is left for the next tick). err stops the
// tick; errs are the watches that failed.
func (s *Service) evaluatePass(ctx context.Context, idx priceIndex, at, now time.Time, roles tickRoles, ids []int64) (held []Watch, errs []error, err error) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	c := &s.watches
	if err := c.sync(ctx, s.store); err != nil {
		return nil, nil, fmt.Errorf("commands: evaluate watches: %w", err)
	}
	if roles == nil {
		if err := s.recordPrices(ctx, idx, at); err != nil {
			errs = append(errs, err) // the evaluation does not depend on it
		}
	}
	c.price(idx)
	live := c.live
	if roles != nil {
		live = nil
		for _, id := range ids {
			if cw := c.byID[id]; cw != nil { // else no longer live (cancelled meanwhile)
				live = append(live, cw)
			}
		}
	}
	for _, cw := range live {
		if ctx.Err() != nil {
			return nil, errs, ctx.Err()
		}
		step, best := decideWatch(&cw.w, cw.g.best, cw.g.found, now, s.policy.RearmMargin, s.policy.Cooldown)
		if step == stepNone {
			continue
		}
		err := s.applyWatchStep(ctx, cw.w, step, best, idx, now, roles)
		switch {
		case errors.Is(err, errAskRoles):
			if roles == nil {
				held = append(held, cw.w)
			}
		case err != nil && !errors.Is(err, ErrConflict):
			errs = append(errs, fmt.Errorf("watch %d: %w", cw.w.ID, err))
		}
	}
	return held, errs, nil
}

// recordPrices writes the tick's time and the last prices seen that
// changed in the snapshot of `at`.
func (s *Service) recordPrices(ctx context.Context, idx priceIndex, at time.Time) error {
	c := &s.watches
	if err := c.loadSeen(ctx, s.store); err != nil {
		return err
	}
	if err := s.store.SaveWatchPrices(ctx, at, c.recordSeen(idx, at)); err != nil {
		c.seenLoaded = false // unknown what was written: read it back next time
		return fmt.Errorf("commands: record watch prices: %w", err)
	}
	return nil
}

// applyWatchStep carries out one decision. ErrConflict means the watch
// changed meanwhile (cancelled by its owner): the next tick decides again.
// errAskRoles means the step needs the owner's current roles (nothing was
// written).
func (s *Service) applyWatchStep(ctx context.Context, w Watch, step watchStep, best bestOffer, idx priceIndex, now time.Time, roles tickRoles) error {
	switch step {
	case stepExpire:
		w.State = WatchExpired
		return s.store.UpdateWatch(ctx, w)
	case stepResolve:
		return s.resolveWatch(ctx, w)
	case stepTrigger:
		return s.triggerWatch(ctx, w, best, now, roles)
	case stepFollow:
		return s.followAutoRent(ctx, w, idx, roles)
	case stepRearm:
		met := best.perGPU > 0 && best.perGPU <= w.MaxUSDPerGPU*(1+1e-9)
		if met && w.AutoRent {
			if _, err := s.autoRentRole(w, roles); errors.Is(err, errAskRoles) {
				return err // before the re-arm: the held-back pass does both
			}
		}
		w.State, w.JobID = WatchActive, ""
		if err := s.store.UpdateWatch(ctx, w); err != nil {
			return err
		}
		// Re-armed by the cooldown with the price still met: this tick
		// triggers it again (once per cooldown while the price hovers).
		if w.UpdatedAt, _ = s.watchUpdatedAt(ctx, w.ID); met {
			return s.triggerWatch(ctx, w, best, now, roles)
		}
	}
	return nil
}

// watchUpdatedAt reads the stored UpdatedAt after a write, for the next
// conditional write of the same tick.
func (s *Service) watchUpdatedAt(ctx context.Context, id int64) (time.Time, error) {
	w, err := s.store.GetWatch(ctx, id)
	return w.UpdatedAt, err
}

// resolveWatch stores the models of a watch created before watches kept
// them (migration 0008); a query that no longer resolves waits for a
// snapshot where it does.
func (s *Service) resolveWatch(ctx context.Context, w Watch) error {
	offers, err := s.offers(ctx)
	if err != nil {
		return err
	}
	models, err := resolveGPU("watch", w.GPUModel, offers)
	if err != nil {
		return nil
	}
	w.Models = models
	return s.store.UpdateWatch(ctx, w)
}

// watchJobKey is the idempotency key of the rent job of a watch's n-th
// trigger: a tick repeated after a crash finds the same job.
func watchJobKey(id int64, n int) string { return fmt.Sprintf("watch:%d:trigger:%d", id, n) }

// triggerWatch fires an armed watch: an alert gets a rent job awaiting
// confirmation (its Rent now button); an auto-rent watch queues the rent
// as its owner, the owner's role and guardrails checked at trigger time.
// An auto-rent they refuse ends the watch (refuseAutoRent); errAskRoles
// (nothing written) asks for the owner's current roles first.
func (s *Service) triggerWatch(ctx context.Context, w Watch, best bestOffer, now time.Time, roles tickRoles) error {
	p, perr := s.watchRentParams(w, best, roles)
	if errors.Is(perr, errAskRoles) {
		return perr
	}
	if perr == nil && w.AutoRent {
		// Checked again, atomically, as the job is stored; this check
		// spares the owner a "renting" notice followed by a refusal.
		if g := s.guard(w.Owner, p.MaxPerGPU*float64(p.Count), p.Hours, ""); g != nil { // nil: no counted cap
			var u GuardUsage
			if u, perr = s.store.GuardUsage(ctx, *g); perr == nil {
				perr = g.Check(u)
			}
		}
		var ce *CapError
		if perr != nil && !errors.As(perr, &ce) {
			return perr
		}
	}
	w.State, w.Triggers, w.LastTriggeredAt = WatchTriggered, w.Triggers+1, &now
	price := best.perGPU
	w.LastTriggerPrice = &price
	var job Job
	var err, denied error
	switch {
	case w.AutoRent && perr != nil:
		return s.refuseAutoRent(ctx, w, best, perr)
	case w.AutoRent:
		// Watch first, then the job: a crash in between leaves a triggered
		// watch whose job the next tick creates (same key), never a second
		// rent for a watch that shows armed.
		w.JobID = randomID(10)
		ev := s.watchEvent(w, best, "", watchTriggeredReply(w, best, Job{ID: w.JobID}, nil))
		if err := s.store.UpdateWatch(ctx, w, ev); err != nil {
			return err
		}
		job, denied, err = s.submitWatchJob(ctx, w, JobQueued, p)
		if err == nil && denied != nil {
			// The guardrails filled up between the check and the insert.
			stored, gerr := s.store.GetWatch(ctx, w.ID)
			if gerr != nil {
				return gerr
			}
			return s.refuseAutoRent(ctx, stored, best, denied)
		}
	case perr == nil:
		// Confirmed, it rents at about the price the alert showed.
		p.MaxPerGPU = positiveMin(p.MaxPerGPU, best.perGPU*(1+priceTolerance))
		// Job first: an orphaned job awaiting confirmation rents nothing.
		if job, _, err = s.submitWatchJob(ctx, w, JobAwaitingConfirmation, p); err != nil {
			return err
		}
		w.JobID = job.ID
		err = s.store.UpdateWatch(ctx, w, s.watchEvent(w, best, job.ID, watchTriggeredReply(w, best, job, nil)))
	default:
		// An alert whose rent policy would refuse: it says why, offers no
		// Rent now, and re-arms as any alert.
		w.JobID = ""
		err = s.store.UpdateWatch(ctx, w, s.watchEvent(w, best, "", watchTriggeredReply(w, best, job, perr)))
	}
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "watch triggered", slog.Int64("watch_id", w.ID),
		slog.Float64("usd_per_gpu_hour", best.perGPU), slog.Int64("server_id", best.serverID), slog.String("job_id", job.ID))
	return nil
}

// watchRentParams is the rent a trigger of w at best makes, or why the
// owner may not make it now: the team's price cap and, for an auto-rent,
// the owner's role as policy has it at trigger time, with the owner's
// current platform roles as roles has them (autoRentRole; errAskRoles when
// they are needed and not asked for yet).
func (s *Service) watchRentParams(w Watch, best bestOffer, roles tickRoles) (rentParams, error) {
	p, err := s.rentParamsFrom(&RentArgs{GPU: w.GPUModel, Count: max(w.Count, 1), MaxPrice: w.MaxUSDPerGPU,
		Image: w.Rent.Image, Hours: w.Rent.Hours, Spot: w.Rent.Spot, SSHKey: w.Rent.SSHKey}, w.Models)
	if err != nil {
		return p, err
	}
	p.Prefer = best.serverID
	if err := s.policy.checkPrice(best.perGPU); err != nil {
		return p, err
	}
	if !w.AutoRent {
		return p, nil
	}
	role, err := s.autoRentRole(w, roles)
	if err != nil {
		return p, err
	}
	if role < RoleRenter {
		return p, deny("renting needs the renter role; %s has %s", w.Owner, role)
	}
	return p, nil
}

// refuseAutoRent ends an auto-rent watch whose rent policy refused at
// trigger time (role, price cap, guardrails), with the reason stored and
// told once through watch.triggered. Ending it, rather than re-arming it,
// is deliberate: a standing auto-rent that keeps hitting a guardrail would
// notify every cooldown and rent by surprise the moment a limit frees up,
// long after anyone looked at it; the owner sets a new watch instead.
func (s *Service) refuseAutoRent(ctx context.Context, w Watch, best bestOffer, denied error) error {
	w.State, w.JobID, w.Error = WatchRefused, "", reason(denied)
	if err := s.store.UpdateWatch(ctx, w, s.watchEvent(w, best, "", watchTriggeredReply(w, best, Job{}, denied))); err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "auto-rent refused; watch ended", slog.Int64("watch_id", w.ID),
		slog.String("owner", w.Owner), slog.String("reason", w.Error))
	return nil
}

// submitWatchJob stores the rent job of a trigger under its idempotency
// key, with the watch's JobID as the job's own (a retried trigger finds
// it). A queued job is stored only within the owner's guardrails: denied
// is the refusal.
func (s *Service) submitWatchJob(ctx context.Context, w Watch, state string, p rentParams) (job Job, denied, err error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return Job{}, nil, fmt.Errorf("commands: encode params: %w", err)
	}
	id := w.JobID
	if id == "" {
		id = randomID(10)
	}
	reserve := p.MaxPerGPU * float64(p.Count)
	var g *Guard
	if state == JobQueued {
		g = s.guard(w.Owner, reserve, p.Hours, "")
	}
	job, created, err := s.store.CreateJobGuarded(ctx, Job{
		ID: id, Kind: JobRent, IdempotencyKey: watchJobKey(w.ID, w.Triggers), State: state,
		RequestedBy: w.Owner, Platform: w.Platform, Channel: w.Channel, ReplyTarget: w.ReplyTarget,
		Params: raw, USDPerHour: reserve, CreatedAt: s.clock.Now(),
	}, g)
	var capErr *CapError
	if errors.As(err, &capErr) {
		return Job{}, capErr, nil
	}
	if err != nil {
		return Job{}, nil, err
	}
	if created && state == JobQueued {
		s.enqueue(job.ID)
	}
	return job, nil, nil
}

// followAutoRent ends an auto-rent watch once its rent succeeded; a rent
// that failed leaves it triggered until the hysteresis re-arms it.
func (s *Service) followAutoRent(ctx context.Context, w Watch, idx priceIndex, roles tickRoles) error {
	job, err := s.store.GetJob(ctx, w.JobID)
	if errors.Is(err, ErrNotFound) {
		// The tick that triggered stopped before creating the job: create
		// it now, checked as the trigger was (role and cap at this time).
		offer, ok := idx.best(w.Models, max(w.Count, 1))
		if !ok && w.LastTriggerPrice != nil {
			offer = bestOffer{perGPU: *w.LastTriggerPrice}
		}
		p, perr := s.watchRentParams(w, offer, roles)
		if errors.Is(perr, errAskRoles) {
			return perr
		}
		if perr != nil {
			return s.refuseAutoRent(ctx, w, offer, perr)
		}
		_, denied, err := s.submitWatchJob(ctx, w, JobQueued, p)
		if err == nil && denied != nil {
			return s.refuseAutoRent(ctx, w, offer, denied)
		}
		return err
	}
	if err != nil {
		return err
	}
	switch job.State {
	case JobSucceeded:
		w.State = WatchDone
		return s.store.UpdateWatch(ctx, w)
	case JobFailed, JobCancelled:
		w.JobID = "" // now an alert-like triggered watch: re-armed by price or cooldown
		return s.store.UpdateWatch(ctx, w)
	}
	return nil
}

// watchEvent is the watch.triggered outbox event. Chat sinks post its
// text (with Rent now when confirm is set) where the watch was made;
// webhook deliveries find the watch's callback_url through data.watch_id.
func (s *Service) watchEvent(w Watch, best bestOffer, jobID string, r Reply) Event {
	count := max(w.Count, 1)
	models := w.Models
	if models == nil {
		models = []string{}
	}
	data := WatchTriggeredEvent{WatchID: w.ID, Owner: w.Owner, GPU: w.GPUModel, Models: models,
		Count: count, TargetUSDPerGPUHour: RoundUSD(w.MaxUSDPerGPU), USDPerGPUHour: RoundUSD(best.perGPU),
		USDPerHour: RoundUSD(best.perGPU * float64(count)), ServerID: best.serverID, AutoRent: w.AutoRent,
		Triggers: w.Triggers, Message: r.Title + ". " + r.Text, Confirm: r.Status == StatusConfirm, JobID: Nullable(jobID)}
	if w.State == WatchRefused {
		// The watch ended: a webhook consumer sees why without the text.
		data.WatchState, data.Refused = Nullable(w.State), Nullable(w.Error)
	}
	raw, _ := json.Marshal(data)
	return Event{Type: "watch.triggered", JobID: jobID, Data: raw, CreatedAt: s.clock.Now()}
}

// watchTriggeredReply is the chat notification of a trigger.
func watchTriggeredReply(w Watch, best bestOffer, job Job, denied error) Reply {
	count := max(w.Count, 1)
	r := Reply{Status: StatusOK, Visibility: Public, Done: true, JobID: job.ID,
		Title: fmt.Sprintf("Watch #%d: %s ×%d at %s per GPU per hour", w.ID, w.GPUModel, count, usd(best.perGPU)),
		Text: fmt.Sprintf("Server %d offers it for %s per hour in all (your target: %s per GPU per hour).",
			best.serverID, usd(best.perGPU*float64(count)), usd(w.MaxUSDPerGPU))}
	switch {
	case w.AutoRent && denied != nil:
		r.Status, r.Text = StatusDenied, r.Text+" Not rented: "+strings.TrimSuffix(reason(denied), ".")+
			". This auto-rent watch has ended; set a new one once that is resolved."
	case w.AutoRent:
		r.Status, r.Done, r.Text = StatusQueued, false, r.Text+" Renting it for you…"
	case denied != nil:
		r.Text += " " + reason(denied)
	default:
		r.Status = StatusConfirm
		r.Buttons = []Button{{ActionID: "confirm:" + job.ID, Label: "Rent now", Value: job.ID,
			Confirm: fmt.Sprintf("Rent %s ×%d for about %s per hour?", w.GPUModel, count, usd(best.perGPU*float64(count))), Danger: true}}
	}
	return r
}

// reason is the user-facing text of a denial or usage error.
func reason(err error) string {
	var d *denial
	var ue *UsageError
	var ce *CapError
	switch {
	case errors.As(err, &d):
		return d.msg
	case errors.As(err, &ce):
		return ce.Error()
	case errors.As(err, &ue):
		return ue.Problem
	}
	return "internal error"
}
