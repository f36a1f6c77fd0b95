package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxOrderSeconds is the order mrl observed on a real order (7 days).
const maxOrderSeconds = 604800

// createOrderRequest is the create_order body. Unknown fields are ignored;
// known fields with the wrong JSON type are invalid input.
type createOrderRequest struct {
	RentingServer     *int64            `json:"renting_server"`
	Type              string            `json:"type"`
	Currency          string            `json:"currency"`
	Image             string            `json:"image"`
	SpotPrice         *float64          `json:"spotprice"`
	Ports             map[string]string `json:"ports"`
	Env               map[string]string `json:"env"`
	SSHPassword       string            `json:"ssh_password"`
	SSHKey            string            `json:"ssh_key"`
	JupyterToken      string            `json:"jupyter_token"`
	Command           string            `json:"command"`
	RequiredPrice     *float64          `json:"required_price"`
	AutoSSHEntrypoint *bool             `json:"autossh_entrypoint"`
	RememberPassword  *bool             `json:"remember_password"`
	DockerhubAuth     string            `json:"dockerhub_auth"`
}

// decodeBody unmarshals a JSON object body and describes what is wrong.
func decodeBody(body []byte, v any) string {
	err := json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("invalid type for %s: got %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return "request body must be a JSON object"
	default:
		return "malformed JSON body"
	}
}

// decodeCreateOrder parses and validates a create_order body.
func decodeCreateOrder(body []byte) (createOrderRequest, string) {
	var req createOrderRequest
	if msg := decodeBody(body, &req); msg != "" {
		return req, msg
	}
	switch {
	case req.RentingServer == nil:
		return req, "renting_server is required"
	case req.Type != "on-demand" && req.Type != "spot":
		return req, `type must be "on-demand" or "spot"`
	case req.Currency == "":
		return req, "currency is required"
	case req.Currency != currencyBTC && req.Currency != currencyCLORE && req.Currency != currencyUSD:
		return req, "unknown currency"
	case strings.TrimSpace(req.Image) == "":
		return req, "image is required"
	case len(req.Image) > 512:
		return req, "image longer than 512 characters"
	case len(req.SSHPassword) > 32:
		return req, "ssh_password longer than 32 characters"
	case len(req.JupyterToken) > 32:
		return req, "jupyter_token longer than 32 characters"
	case len(req.SSHKey) > 3072:
		return req, "ssh_key longer than 3072 characters"
	case req.Type == "spot" && (req.SpotPrice == nil || *req.SpotPrice <= 0):
		return req, "spotprice must be a positive number for spot orders"
	case req.RequiredPrice != nil && *req.RequiredPrice <= 0:
		return req, "required_price must be positive"
	}
	if _, _, msg := parsePorts(req.Ports); msg != "" {
		return req, msg
	}
	return req, ""
}

// handleCreateOrder serves POST /v1/create_order. Success is {"code":0}
// only: like the real API it returns no order id.
func (s *Server) handleCreateOrder(ctx context.Context, c call) answer {
	req, msg := decodeCreateOrder(c.body)
	if msg != "" {
		return invalidInput(msg)
	}
	sv := s.market.byID[*req.RentingServer]
	if sv == nil {
		return failure(http.StatusOK, "server-dont-exist")
	}
	if a, stop := s.checkRentable(ctx, sv, req, c); stop {
		return a
	}
	for _, v := range req.Env {
		if strings.Contains(v, "&") {
			return databaseError() // observed live
		}
	}
	o, need := s.newOrder(c, sv, req)
	id, err := s.store.createOrder(ctx, o, need)
	switch {
	case errors.Is(err, errServerRented):
		return alreadyRented()
	case errors.Is(err, errNotEnoughBalance):
		return failure(http.StatusOK, "not_enough_balance")
	case err != nil:
		return internalError(err)
	}
	if s.quirks.created(id, sv.id, c.now) {
		return databaseError() // CreateCode1ButRent: the order exists all the same
	}
	return codeOnly(http.StatusOK, 0)
}

// checkRentable runs the per-server checks of create_order in the order
// own server, GigaSPOT, currency, online, a second spot order, free, lost
// race, spot minimum, required_price.
func (s *Server) checkRentable(ctx context.Context, sv *server, req createOrderRequest, c call) (answer, bool) {
	now := c.now
	if s.hooks.owns(c.keyHash, sv.id) {
		return failure(http.StatusOK, "cant_rent_from_yourself"), true
	}
	if s.hooks.onGigaspot(sv.id) {
		return failure(http.StatusOK, "machine-is-on-gigaspot"), true
	}
	if !sv.accepts(req.Currency) {
		return failure(http.StatusInternalServerError, "currency-not-allowed"), true
	}
	if sv.offline {
		return failure(http.StatusOK, "server-offline"), true
	}
	if req.Type == "spot" {
		mine, err := s.store.hasActiveSpotOrder(ctx, c.keyHash, sv.id, now.UnixMilli())
		if err != nil {
			return internalError(err), true
		}
		if mine {
			return failure(http.StatusOK, "you_already_have_spot_order"), true
		}
	}
	if s.market.rentedByOthers(sv, now) {
		return alreadyRented(), true
	}
	busy, err := s.store.serverBusy(ctx, sv.id, now.UnixMilli())
	if err != nil {
		return internalError(err), true
	}
	if busy {
		return alreadyRented(), true
	}
	if s.chaos.roll(s.opts.RaceRate) {
		until := now.Add(time.Hour + s.chaos.durationN(5*time.Hour))
		if err := s.store.markRented(ctx, sv.id, until.UnixMilli()); err != nil {
			return internalError(err), true
		}
		return alreadyRented(), true
	}
	if req.Type == "spot" && *req.SpotPrice < sv.spot(now).in(req.Currency) {
		return failure(http.StatusOK, "too_low_price"), true
	}
	if req.Type == "on-demand" && req.RequiredPrice != nil &&
		math.Abs(*req.RequiredPrice-sv.onDemand(now).in(req.Currency)) > 1e-9*max(*req.RequiredPrice, 1e-9) {
		return databaseError(), true // Clore documents no "price changed": it answers an opaque code 1
	}
	return answer{}, false
}

// newOrder builds the order to store and the balance it needs: the
// creation fee plus one hour of the price.
func (s *Server) newOrder(c call, sv *server, req createOrderRequest) (order, float64) {
	nowMS := c.now.UnixMilli()
	price := sv.onDemand(c.now).in(req.Currency)
	if req.Type == "spot" {
		price = *req.SpotPrice
	}
	ports, _, _ := parsePorts(req.Ports)
	portsJSON, _ := json.Marshal(ports) // map[string]string always encodes
	mrl := min(int64(maxOrderSeconds), sv.mrlHours*3600)
	o := order{
		KeyHash:      c.keyHash,
		ServerID:     sv.id,
		Spot:         req.Type == "spot",
		Currency:     req.Currency,
		Image:        req.Image,
		Ports:        string(portsJSON),
		Price:        price,
		PriceSinceMS: nowMS,
		CreationFee:  quoteUSD(creationFeeUSD).in(req.Currency),
		CreatedMS:    nowMS,
		MRLSeconds:   mrl,
		EndsMS:       nowMS + mrl*1000,
	}
	return o, o.CreationFee + price/24
}

// parsePorts validates the ports object: numeric container ports mapped to
// "tcp" or "http", at most one "http" port. It returns the map, the http
// port and a complaint.
func parsePorts(ports map[string]string) (map[string]string, string, string) {
	out := make(map[string]string, len(ports))
	httpPort := ""
	for p, kind := range ports {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, "", fmt.Sprintf("invalid port %q", p)
		}
		switch kind {
		case "tcp":
		case "http":
			if httpPort != "" {
				return nil, "", "only one http port is allowed"
			}
			httpPort = strconv.Itoa(n)
		default:
			return nil, "", fmt.Sprintf("port %s: type must be \"tcp\" or \"http\"", p)
		}
		out[strconv.Itoa(n)] = kind
	}
	return out, httpPort, ""
}

// cancelRequest is the cancel_order body.
type cancelRequest struct {
	ID    *int64 `json:"id"`
	Issue string `json:"issue"`
}

// handleCancelOrder serves POST /v1/cancel_order with the documented code-6
// answers: order_dont_exist, you_dont_own_this_order, order_not_active (the
// order already ended) and issue_description_too_long (over 2048 characters).
func (s *Server) handleCancelOrder(ctx context.Context, c call) answer {
	if a, ok := s.quirks.failCancel(); ok {
		return a
	}
	var req cancelRequest
	if msg := decodeBody(c.body, &req); msg != "" {
		return invalidInput(msg)
	}
	if req.ID == nil {
		return invalidInput("id is required")
	}
	if len(req.Issue) > 2048 {
		return failure(http.StatusOK, "issue_description_too_long")
	}
	err := s.store.cancelOrder(ctx, c.keyHash, *req.ID, c.now.UnixMilli())
	if a, ok := orderFailure(err); ok {
		return a
	}
	return codeOnly(http.StatusOK, 0)
}

// orderFailure is the answer to a failed change of an order; ok is false
// when err is nil.
func orderFailure(err error) (answer, bool) {
	switch {
	case err == nil:
		return answer{}, false
	case errors.Is(err, errOrderNotFound):
		return failure(http.StatusOK, "order_dont_exist"), true
	case errors.Is(err, errNotYourOrder):
		return failure(http.StatusOK, "you_dont_own_this_order"), true
	case errors.Is(err, errOrderNotActive):
		return failure(http.StatusOK, "order_not_active"), true
	}
	var rej *rejection
	if errors.As(err, &rej) {
		return rej.a, true
	}
	return internalError(err), true
}
