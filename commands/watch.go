package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (s *Service) handleWatch(ctx context.Context, req Request, a *WatchArgs) Reply {
	switch a.Action {
	case "list":
		return s.listWatches(ctx, req)
	case "cancel":
		return s.cancelWatch(ctx, req, a.WatchID)
	}
	offers, err := s.offers(ctx)
	if err != nil {
		return s.fail(ctx, "watch", err)
	}
	if _, err := resolveGPU("watch", a.GPU, offers); err != nil {
		return errorReply(err)
	}
	if a.AutoRent && s.policy.MaxPricePerHour > 0 && a.MaxPrice > s.policy.MaxPricePerHour {
		return errorReply(deny("an auto-rent watch at %s per GPU per hour is above the team's cap of %s",
			usd(a.MaxPrice), usd(s.policy.MaxPricePerHour)))
	}
	w := Watch{Owner: req.User, Platform: req.Platform, Channel: req.Channel, ReplyTarget: req.ReplyTarget,
		GPUModel: a.GPU, MaxUSDPerGPU: a.MaxPrice, Count: max(a.Count, 1), AutoRent: a.AutoRent, State: WatchActive}
	if a.For > 0 {
		until := s.clock.Now().Add(a.For)
		w.ExpiresAt = &until
	}
	if err := s.store.CreateWatch(ctx, &w); err != nil {
		return s.fail(ctx, "watch", err)
	}
	return Reply{Status: StatusOK, Title: fmt.Sprintf("Watch #%d set", w.ID), Text: describeWatch(w), Visibility: Ephemeral, Done: true}
}

func describeWatch(w Watch) string {
	what := "alert"
	if w.AutoRent {
		what = "rent automatically"
	}
	text := fmt.Sprintf("%s when %s ×%d is offered at or below %s per GPU per hour", what, w.GPUModel, w.Count, usd(w.MaxUSDPerGPU))
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
	ws, err := s.store.ListWatches(ctx, owner, WatchActive)
	if err != nil {
		return s.fail(ctx, "watch list", err)
	}
	r := Reply{Status: StatusOK, Title: "Price watches", Visibility: Ephemeral, Done: true}
	if len(ws) == 0 {
		r.Text = "No active watches."
	}
	for _, w := range ws {
		v := describeWatch(w)
		if owner == "" {
			v += " · by " + w.Owner
		}
		r.Fields = append(r.Fields, Field{Name: fmt.Sprintf("#%d", w.ID), Value: strings.ToUpper(v[:1]) + v[1:]})
	}
	return r
}

func (s *Service) cancelWatch(ctx context.Context, req Request, id int64) Reply {
	w, err := s.store.GetWatch(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && w.Owner != req.User && s.policy.Role(req.User, req.Roles...) < RoleAdmin {
		return errorReply(&UsageError{Command: "watch", Problem: fmt.Sprintf("no watch #%d of yours", id), Usage: Usage("watch")})
	}
	if err != nil {
		return s.fail(ctx, "watch cancel", err)
	}
	if w.State != WatchActive {
		return Reply{Status: StatusOK, Text: fmt.Sprintf("Watch #%d is already %s.", id, w.State), Visibility: Ephemeral, Done: true}
	}
	w.State = WatchCancelled
	if err := s.store.UpdateWatch(ctx, w); err != nil {
		return s.fail(ctx, "watch cancel", err)
	}
	return Reply{Status: StatusOK, Text: fmt.Sprintf("Watch #%d cancelled.", id), Visibility: Ephemeral, Done: true}
}
