package commands

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JobView is what a front door without a message to update (the command
// line, scripts) may show of a job: its state, its order and the provisioning
// deadline. It never holds secrets.
type JobView struct {
	JobID     string
	Kind      string
	State     string
	Step      string // the last checkpointed step: "", creating, created, provisioning, ...
	CreatedAt time.Time
	// CloreOrderID is the order the job created or acts on, once known.
	CloreOrderID *int64
	// USDPerHour is the chosen offer's (or the order's) total price.
	USDPerHour *float64
	// Deadline is when a provisioning order is cancelled unless online.
	Deadline time.Time
	// OrderMayExist is true once create_order may have been sent.
	OrderMayExist bool
	Error         string
}

// ViewJob returns a job's JobView.
func (s *Service) ViewJob(ctx context.Context, id string) (JobView, error) {
	j, err := s.store.GetJob(ctx, id)
	if err != nil {
		return JobView{}, fmt.Errorf("commands: view job %s: %w", id, err)
	}
	return viewJob(j), nil
}

func viewJob(j Job) JobView {
	v := JobView{JobID: j.ID, Kind: j.Kind, State: j.State, Step: j.Step, CreatedAt: j.CreatedAt, Error: j.Error}
	var result struct {
		ID         *int64   `json:"id"`       // OrderInfo
		OrderID    *int64   `json:"order_id"` // results stored before OrderInfo
		USDPerHour *float64 `json:"usd_per_hour"`
	}
	if len(j.Result) > 0 && json.Unmarshal(j.Result, &result) == nil {
		v.CloreOrderID, v.USDPerHour = cmp.Or(result.ID, result.OrderID), result.USDPerHour
	}
	switch j.Kind {
	case JobRent:
		var cp rentCheckpoint
		if len(j.Checkpoint) > 0 && json.Unmarshal(j.Checkpoint, &cp) == nil {
			if cp.CloreID != 0 && v.CloreOrderID == nil {
				id := cp.CloreID
				v.CloreOrderID = &id
			}
			if cp.Offer != nil && v.USDPerHour == nil {
				p := cp.Offer.USDPerHour
				v.USDPerHour = &p
			}
			v.Deadline = cp.Deadline
		}
		v.OrderMayExist = v.CloreOrderID != nil || j.Step != stepChoose
	case JobCancel:
		var p cancelParams
		if json.Unmarshal(j.Params, &p) == nil && p.CloreOrderID != 0 && v.CloreOrderID == nil {
			id := p.CloreOrderID
			v.CloreOrderID = &id
		}
	}
	return v
}

// AbandonJob cancels a rent job that has not sent create_order yet (queued,
// or running before its first Clore order step), on behalf of user, who must
// be its requester or an admin. It returns the job's view afterwards; a job
// that may already have an order is left to resume and returned unchanged.
// The command line calls it after Ctrl-C: a rent the operator interrupted
// before anything was ordered must not be rented later by `serve`.
func (s *Service) AbandonJob(ctx context.Context, id, user string) (JobView, error) {
	owner := s.o.WorkerID + "/abandon-" + randomID(4)
	now := s.clock.Now()
	j, err := s.store.ClaimJob(ctx, id, owner, now, now.Add(s.o.Lease))
	if err != nil {
		return JobView{}, fmt.Errorf("commands: abandon job %s: %w", id, err)
	}
	defer func() { _ = s.store.ReleaseJob(context.WithoutCancel(ctx), id, owner) }()
	v := viewJob(j)
	if j.Kind != JobRent || terminal(j.State) || v.OrderMayExist {
		return v, nil
	}
	if j.RequestedBy != user && s.policy.Role(user) < RoleAdmin {
		return v, errors.New("commands: abandon job: not the requester")
	}
	r := &run{s: s, job: j, owner: owner}
	r.job.State, r.job.Error = JobCancelled, "interrupted before anything was rented"
	if err := r.save(ctx, nil, r.completed(nil)); err != nil {
		return v, err
	}
	return viewJob(r.job), nil
}

// VisibleOrders lists the orders `status` shows user: one order by its Clore
// id (orderID > 0), else the active ones — everyone's for an admin, their own
// for others.
func (s *Service) VisibleOrders(ctx context.Context, user string, orderID int64) ([]Order, error) {
	admin := s.policy.Role(user) >= RoleAdmin
	if orderID != 0 {
		o, err := s.store.GetOrderByCloreID(ctx, orderID)
		if err == nil && o.RequestedBy != user && !admin {
			err = ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("commands: order %d: %w", orderID, err)
		}
		return []Order{o}, nil
	}
	f := OrderFilter{States: activeStates, Limit: 25}
	if !admin {
		f.RequestedBy = user
	}
	orders, err := s.store.ListOrders(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("commands: list orders: %w", err)
	}
	return orders, nil
}

// SSHEndpoint is where the requester connects to a rented server.
type SSHEndpoint struct {
	User     string `json:"user"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Password string `json:"password,omitempty"`
}

// SSH reads the SSH endpoint out of connection details, as the rent job
// writes them (fields "SSH" = "ssh -p PORT USER@HOST" and "Password").
func (p *PrivatePart) SSH() (SSHEndpoint, bool) {
	if p == nil {
		return SSHEndpoint{}, false
	}
	var e SSHEndpoint
	found := false
	for _, f := range p.Fields {
		switch f.Name {
		case "SSH":
			var port, target string
			if _, err := fmt.Sscanf(f.Value, "ssh -p %s %s", &port, &target); err != nil {
				continue
			}
			n, err := strconv.Atoi(port)
			user, host, ok := strings.Cut(target, "@")
			if err != nil || !ok {
				continue
			}
			e.Port, e.User, e.Host, found = n, user, host, true
		case "Password":
			e.Password = f.Value
		}
	}
	return e, found
}

// DescribeJob is job j's machine shape (JobInfo) with the order it created
// or acts on, as stored; Order is nil while there is none.
func (s *Service) DescribeJob(ctx context.Context, j Job) (JobInfo, error) {
	var order *Order
	switch j.Kind {
	case JobRent:
		orders, err := s.store.ListOrders(ctx, OrderFilter{JobID: j.ID, Limit: 1})
		if err != nil {
			return JobInfo{}, fmt.Errorf("commands: describe job %s: %w", j.ID, err)
		}
		if len(orders) > 0 {
			order = &orders[0]
		}
	case JobCancel:
		var p cancelParams
		if json.Unmarshal(j.Params, &p) == nil && p.CloreOrderID != 0 {
			o, err := s.store.GetOrderByCloreID(ctx, p.CloreOrderID)
			switch {
			case err == nil:
				order = &o
			case !errors.Is(err, ErrNotFound):
				return JobInfo{}, fmt.Errorf("commands: describe job %s: %w", j.ID, err)
			}
		}
	}
	info := NewJobInfo(j, order)
	if order == nil && len(j.Result) > 0 {
		// An order clorebot did not record (an admin's cancel of a
		// foreign order): as the job's result describes it.
		var oi OrderInfo
		if json.Unmarshal(j.Result, &oi) == nil && oi.ID != nil {
			info.Order = &oi
		}
	}
	return info, nil
}
