package commands

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// roleLookupTimeout bounds one front door's answer about an owner's roles.
const roleLookupTimeout = 10 * time.Second

// maxRoleLookups bounds the owners one tick asks about; auto-rent watches
// past it are left as they are for the next tick.
const maxRoleLookups = 32

// errAskRoles is a step that needs the owner's current platform roles,
// not asked for yet at this tick: the tick holds it back, asks with no lock
// held, and decides it again (EvaluateWatches).
var errAskRoles = errors.New("commands: the owner's current roles are not known yet")

// roleKey is one owner's roles where a watch was set.
type roleKey struct{ platform, owner, where string }

func roleKeyOf(w Watch) roleKey { return roleKey{w.Platform, w.Owner, w.Channel} }

// roleAnswer is what an owner's front door answered at this tick.
type roleAnswer struct {
	roles []string
	err   error // roles unknown: the auto-rent is refused
}

// tickRoles are the answers of one tick; nil before the tick asked.
type tickRoles map[roleKey]roleAnswer

// asksRoles says whether an auto-rent of w needs its owner's current
// platform roles: the owner is not a renter by identity alone and was one,
// when the watch was set, through platform roles.
func (s *Service) asksRoles(w Watch) bool {
	return w.AutoRent && len(w.OwnerRoles) > 0 && s.policy.Role(w.Owner) < RoleRenter
}

// autoRentRole is the owner's role for an auto-rent of w now: the
// identity's, with the owner's current platform roles when it depends on
// them (never the roles stored with the watch).
func (s *Service) autoRentRole(w Watch, roles tickRoles) (Role, error) {
	if !s.asksRoles(w) {
		return s.policy.Role(w.Owner), nil
	}
	a, ok := roles[roleKeyOf(w)]
	switch {
	case !ok:
		return RoleNone, errAskRoles
	case errors.Is(a.err, errNoRoleSource):
		return RoleNone, deny("%s is a renter only through %s roles, which clorebot cannot check when the watch triggers", w.Owner, w.Platform)
	case a.err != nil:
		return RoleNone, deny("%s's current %s roles could not be checked, and an auto-rent rents only for a renter it can confirm", w.Owner, w.Platform)
	}
	return s.policy.Role(w.Owner, a.roles...), nil
}

var errNoRoleSource = errors.New("commands: no role source for the platform")

// askRoles asks the owners' front doors for the current roles of the owners
// of ws, once per owner and place, at most maxRoleLookups. It runs with no
// lock held and no transaction open: each answer is a network call. Only a
// cancelled ctx is an error (the tick stops; nothing is refused for it).
func (s *Service) askRoles(ctx context.Context, ws []Watch) (tickRoles, error) {
	out := tickRoles{}
	for _, w := range ws {
		k := roleKeyOf(w)
		if _, done := out[k]; done {
			continue
		}
		if len(out) >= maxRoleLookups {
			break
		}
		src := s.o.RoleSources[w.Platform]
		if src == nil {
			out[k] = roleAnswer{err: errNoRoleSource}
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, roleLookupTimeout)
		roles, err := src.CurrentRoles(lctx, w.Owner, w.Channel)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "owner's current roles unknown",
				slog.Int64("watch_id", w.ID), slog.String("owner", w.Owner), slog.Any("error", err))
		}
		out[k] = roleAnswer{roles: roles, err: err}
	}
	return out, nil
}
