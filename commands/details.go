package commands

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/clorebot/clorebot/clore"
)

// Connection details on request. A rent job pushes its
// order's connection details to the requester once, right after its
// success is stored (run.running), and never again: a job never sends them
// twice. A failed send, a crash between the checkpoint and the send, or a
// CLI job that serve finished would leave them nowhere, so the renter can
// read them again with `status <order-id>`: the ssh command from the last
// my_orders snapshot (no Clore call on the request path) and the password
// while the job row still holds it (storage wipes it 24 h after the
// request, a webhook rent's once delivered).

// statusDetails returns the connection details of order o for req as a
// private part, or nil when req is not o's renter (the RequestedBy of the
// rent job that created o: an admin is not), o is not running, or no rent
// job of clorebot created it.
func (s *Service) statusDetails(ctx context.Context, req Request, o Order) *PrivatePart {
	if o.JobID == "" || o.CloreOrderID == nil || o.State != OrderRunning || req.User == "" {
		return nil
	}
	job, err := s.store.GetJob(ctx, o.JobID)
	if err != nil {
		return s.unreadableDetails(ctx, *o.CloreOrderID, fmt.Errorf("commands: status details: job %s: %w", o.JobID, err))
	}
	if job.Kind != JobRent || job.RequestedBy != req.User {
		return nil
	}
	pp, _, err := s.jobDetails(job, *o.CloreOrderID)
	if err != nil {
		return s.unreadableDetails(ctx, *o.CloreOrderID, fmt.Errorf("commands: status details: %w", err))
	}
	return pp
}

// jobDetails builds the connection details of order id from its rent job's
// params and the orders snapshot; known is false when the snapshot does not
// show the order yet (its host and port unknown).
func (s *Service) jobDetails(job Job, id int64) (pp *PrivatePart, known bool, err error) {
	var p rentParams
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return nil, false, fmt.Errorf("job %s params: %w", job.ID, err)
	}
	lo, known := s.liveOrderSnapshot(id)
	return storedDetails(id, lo, known, p, job.Platform), known, nil
}

// ConnectionDetails are the connection details of the order that rent job
// jobID created, for its requester user only: what `status <order-id>`
// shows its renter. It returns nil (and no error) for anyone else, for a
// job that is not a succeeded rent, for an order no longer running, and
// while the orders snapshot does not show the order yet (its host and port
// unknown: details handed over once must be whole). A front door that hands
// details over on request (a webhook GET of the job) calls it when the job
// never queued them: a process killed between the job's success and the
// hand-off.
func (s *Service) ConnectionDetails(ctx context.Context, user, jobID string) (*PrivatePart, error) {
	job, err := s.store.GetJob(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("commands: connection details: %w", err)
	}
	if user == "" || job.RequestedBy != user || job.Kind != JobRent || job.State != JobSucceeded {
		return nil, nil
	}
	var res struct {
		ID      int64 `json:"id"`       // OrderInfo
		OrderID int64 `json:"order_id"` // results stored before OrderInfo
	}
	if err := json.Unmarshal(job.Result, &res); err != nil || cmp.Or(res.ID, res.OrderID) == 0 {
		return nil, fmt.Errorf("commands: connection details: job %s has no order in its result", jobID)
	}
	res.OrderID = cmp.Or(res.ID, res.OrderID)
	o, err := s.store.GetOrderByCloreID(ctx, res.OrderID)
	if err != nil {
		return nil, fmt.Errorf("commands: connection details: order %d: %w", res.OrderID, err)
	}
	if o.State != OrderRunning {
		return nil, nil
	}
	pp, known, err := s.jobDetails(job, res.OrderID)
	if err != nil {
		return nil, fmt.Errorf("commands: connection details: %w", err)
	}
	if !known {
		return nil, nil
	}
	return pp, nil
}

// unreadableDetails logs err (it never holds a secret: the params' JSON
// error names no value) and tells the renter to ask again.
func (s *Service) unreadableDetails(ctx context.Context, id int64, err error) *PrivatePart {
	ref := randomID(4)
	s.log.LogAttrs(ctx, slog.LevelError, "connection details not read", slog.String("ref", ref), slog.Any("error", err))
	return &PrivatePart{Title: fmt.Sprintf("Connect to order #%d", id),
		Text: fmt.Sprintf("The connection details could not be read just now (ref %s); ask again.", ref)}
}

// storedDetails builds the connection details of order id from what is
// stored: lo, the order as the last my_orders snapshot showed it (known
// false: not in it), and the rent's params p of a job from platform.
func storedDetails(id int64, lo clore.Order, known bool, p rentParams, platform string) *PrivatePart {
	pp := &PrivatePart{Title: fmt.Sprintf("Connect to order #%d", id)}
	var notes []string
	if cmd := sshCommand(lo); cmd != "" {
		pp.Fields = append(pp.Fields, Field{Name: "SSH", Value: cmd})
	} else if known {
		notes = append(notes, "Clore has not published an SSH port; see the Clore dashboard.")
	} else {
		notes = append(notes, "The SSH host and port are not known yet (the next order refresh brings them); see the Clore dashboard or ask again in a minute.")
	}
	switch {
	case p.SSHKey != "":
		pp.Fields = append(pp.Fields, Field{Name: "Key", Value: "the SSH key you gave"})
	case p.SSHPassword != "":
		pp.Fields = append(pp.Fields, Field{Name: "Password", Value: p.SSHPassword})
	default:
		notes = append(notes, wipedPasswordNote(platform))
	}
	if lo.HTTPPub != "" {
		pp.Fields = append(pp.Fields, Field{Name: "HTTP", Value: "https://" + lo.HTTPPub})
	}
	pp.Text = strings.Join(notes, " ")
	return pp
}

// wipedPasswordNote says why a rent's password is no longer stored
// (storage.WipeSecrets) and what to do.
func wipedPasswordNote(platform string) string {
	if platform == PlatformWebhook {
		return "The password was removed once it was delivered to your webhook (or after 24 h); reset it on the Clore dashboard."
	}
	return "The password was removed after 24 h; reset it on the Clore dashboard."
}

// sshCommand is the ssh command of a Clore order as my_orders shows it
// (its first public host and the port mapped to 22), "" when it has none.
func sshCommand(o clore.Order) string {
	if len(o.PubCluster) == 0 || o.PubCluster[0] == "" {
		return ""
	}
	for _, tp := range o.TCPPorts {
		if inner, outer, ok := strings.Cut(tp, ":"); ok && inner == "22" {
			return fmt.Sprintf("ssh -p %s root@%s", outer, o.PubCluster[0])
		}
	}
	return ""
}

// seeAgainHint tells the renter of order id how to read its connection
// details again (statusDetails), in the words of the job's front door;
// "" for webhooks, whose details are handed over by their own route.
func seeAgainHint(platform string, id int64) string {
	switch platform {
	case PlatformWebhook:
		return ""
	case PlatformCLI:
		return fmt.Sprintf(" `clorebot exec status %d` shows them again.", id)
	}
	return " " + CommandHint(fmt.Sprintf("status %d", id)) + " shows them again."
}
