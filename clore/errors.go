package clore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Codes of Clore's response envelope.
const (
	CodeOK              = 0
	CodeDatabase        = 1
	CodeInvalidInput    = 2
	CodeInvalidToken    = 3
	CodeInvalidEndpoint = 4
	CodeRateLimited     = 5
	CodeSeeError        = 6
)

// Sentinel errors. An *APIError matches the sentinel of its code and, for code 6,
// the sentinel of its error string, so callers test with errors.Is.
var (
	ErrDatabase        = errors.New("clore: database error (code 1)")
	ErrInvalidInput    = errors.New("clore: invalid input (code 2)")
	ErrAuth            = errors.New("clore: invalid API token (code 3)")
	ErrInvalidEndpoint = errors.New("clore: invalid endpoint (code 4)")
	ErrRateLimited     = errors.New("clore: rate limit exceeded (code 5)")
	// ErrOther is code 6 with an error string that is not one of the known ones.
	ErrOther = errors.New("clore: request failed (code 6)")

	// Code-6 errors of create_order.
	ErrServerAlreadyRented  = errors.New("clore: server already rented")
	ErrCurrencyNotAllowed   = errors.New("clore: currency not allowed by this server")
	ErrNotEnoughBalance     = errors.New("clore: not enough balance")
	ErrTooLowPrice          = errors.New("clore: spot price too low")
	ErrServerOffline        = errors.New("clore: server offline")
	ErrServerDontExist      = errors.New("clore: no such server")
	ErrCantRentFromYourself = errors.New("clore: the server is the account's own")
	ErrAlreadyHaveSpotOrder = errors.New("clore: the account already has a spot order on this server")
	ErrMachineOnGigaspot    = errors.New("clore: the server is in the GigaSPOT pool")

	// Code-6 errors of cancel_order and set_spot_price.
	ErrNotYourOrder    = errors.New("clore: the order belongs to another account")
	ErrOrderNotActive  = errors.New("clore: the order has already ended")
	ErrOrderDontExist  = errors.New("clore: no such order")
	ErrIssueTooLong    = errors.New("clore: issue description too long")
	ErrAmountTooLow    = errors.New("clore: spot price below the minimum")
	ErrExceededMaxStep = errors.New("clore: spot price lowered by more than the allowed step")
	ErrLowerTooSoon    = errors.New("clore: spot price can be lowered only every 600 seconds")

	// Code-6 errors of the host endpoints (set_server_settings, server_config).
	ErrHostServerDontExist = errors.New("clore: no such server of this host")
	ErrMissingParameters   = errors.New("clore: not all parameters present")
	ErrInvalidMRL          = errors.New("clore: invalid maximum rental length")
	ErrInvalidSetting      = errors.New("clore: invalid server setting")

	// ErrUnknownCode is a code Clore has not documented.
	ErrUnknownCode = errors.New("clore: unknown response code")

	// ErrTransport covers every answer that is not Clore's JSON envelope (network
	// failures, a proxy's HTML or "error code: 1010" page, truncated bodies).
	ErrTransport = errors.New("clore: transport error")
)

// code6Errors maps every code-6 `error` string of Clore's error-codes
// reference (dev.clore.ai/reference/error-codes) and of the captured answers to
// its sentinels. Clore spells them inconsistently (hyphens, underscores):
// compare exactly. A string with two sentinels matches both: amount_too_low
// and too_low_price name the same condition on different pages of the docs.
var code6Errors = map[string][]error{
	"server-already-rented":       {ErrServerAlreadyRented},
	"currency-not-allowed":        {ErrCurrencyNotAllowed},
	"not_enough_balance":          {ErrNotEnoughBalance},
	"too_low_price":               {ErrTooLowPrice},
	"server-offline":              {ErrServerOffline},
	"server-dont-exist":           {ErrServerDontExist},
	"cant_rent_from_yourself":     {ErrCantRentFromYourself},
	"you_already_have_spot_order": {ErrAlreadyHaveSpotOrder},
	"machine-is-on-gigaspot":      {ErrMachineOnGigaspot},
	"you_dont_own_this_order":     {ErrNotYourOrder},
	"order_not_active":            {ErrOrderNotActive},
	"order_dont_exist":            {ErrOrderDontExist},
	"issue_description_too_long":  {ErrIssueTooLong},
	"amount_too_low":              {ErrAmountTooLow, ErrTooLowPrice},
	"exceeded_max_step":           {ErrExceededMaxStep},
	"can_lower_every_600_seconds": {ErrLowerTooSoon},
	"server_dont_exist":           {ErrHostServerDontExist},
	"not_all_parameters_present":  {ErrMissingParameters},
	"invalid_mrl":                 {ErrInvalidMRL},
	"invalid_input":               {ErrInvalidSetting},
}

// Code6Strings returns every code-6 error string the client knows, sorted.
func Code6Strings() []string {
	return slices.Sorted(maps.Keys(code6Errors))
}

var codeErrors = map[int]error{
	CodeDatabase:        ErrDatabase,
	CodeInvalidInput:    ErrInvalidInput,
	CodeInvalidToken:    ErrAuth,
	CodeInvalidEndpoint: ErrInvalidEndpoint,
	CodeRateLimited:     ErrRateLimited,
}

// APIError is an answer of Clore with a non-zero code.
type APIError struct {
	Endpoint   string
	HTTPStatus int
	Code       int
	// Message is the envelope's `error` string, if any.
	Message string
	// MaxStep accompanies exceeded_max_step.
	MaxStep float64
	// TimeToLowering (seconds) accompanies can_lower_every_600_seconds.
	TimeToLowering float64
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("clore: %s: code %d", e.Endpoint, e.Code)
	if e.Message != "" {
		msg += " (" + e.Message + ")"
	}
	return fmt.Sprintf("%s, HTTP %d", msg, e.HTTPStatus)
}

// Is makes errors.Is(err, ErrServerAlreadyRented) and friends work.
func (e *APIError) Is(target error) bool {
	if e.Code == CodeSeeError {
		if ss, ok := code6Errors[e.Message]; ok {
			return slices.Contains(ss, target)
		}
		return target == ErrOther
	}
	if s, ok := codeErrors[e.Code]; ok {
		return s == target
	}
	return target == ErrUnknownCode
}

// Known reports whether the error is one Clore documents: codes 1 to 5, or
// code 6 with a documented error string.
func (e *APIError) Known() bool {
	if e.Code == CodeSeeError {
		_, ok := code6Errors[e.Message]
		return ok
	}
	_, ok := codeErrors[e.Code]
	return ok
}

// TransportError is an answer that is not Clore's envelope, or no answer at all.
type TransportError struct {
	Endpoint   string
	HTTPStatus int // 0 when no response arrived
	// Snippet is the start of a non-JSON body, for diagnostics.
	Snippet string
	Err     error
}

func (e *TransportError) Error() string {
	switch {
	case e.HTTPStatus == 0:
		return fmt.Sprintf("clore: %s: %v", e.Endpoint, e.Err)
	case e.Snippet != "":
		return fmt.Sprintf("clore: %s: HTTP %d with a body that is not Clore's JSON: %q", e.Endpoint, e.HTTPStatus, e.Snippet)
	default:
		return fmt.Sprintf("clore: %s: HTTP %d: %v", e.Endpoint, e.HTTPStatus, e.Err)
	}
}

// Is matches ErrTransport.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }

// Unwrap exposes the underlying network error.
func (e *TransportError) Unwrap() error { return e.Err }

// OutcomeUnknown reports whether an error leaves it open whether Clore carried
// out the request: the request may have been received but no envelope came back
// (a network error, a 5xx page, a cut or garbled 2xx body) or Clore reported a
// database error. After create_order such an error must be reconciled through
// my_orders, never answered by sending create_order again. A 4xx page without
// Clore's envelope (a proxy refusing the request) is not unknown.
func OutcomeUnknown(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return te.HTTPStatus < 400 || te.HTTPStatus >= 500
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code == CodeDatabase
	}
	return false
}

// retryable reports whether a safe (idempotent) call may be repeated after err.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code == CodeRateLimited || ae.Code == CodeDatabase ||
			(ae.HTTPStatus >= 500 && ae.Code != CodeSeeError && ae.Code != CodeInvalidInput)
	}
	var te *TransportError
	if errors.As(err, &te) {
		// A proxy's 4xx page will not change on retry; network errors, 5xx pages
		// and cut 2xx bodies may.
		return te.HTTPStatus < 400 || te.HTTPStatus >= 500 || te.HTTPStatus == 429
	}
	return false
}
