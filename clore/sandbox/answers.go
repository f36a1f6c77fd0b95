package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// answer is a complete HTTP response.
type answer struct {
	status      int
	code        int    // the body's code; -1 when the body is not JSON
	contentType string // "" means application/json
	body        []byte
	err         error // the sandbox's own failure behind a 500, for RequestRecord
}

// errorBody is the shape of every error answer. Field order follows the
// captured bodies: {"status":..,"error":..,"code":6}.
type errorBody struct {
	Status         string   `json:"status,omitempty"`
	Error          string   `json:"error,omitempty"`
	MaxStep        *float64 `json:"max_step,omitempty"`
	TimeToLowering *int64   `json:"time_to_lowering,omitempty"`
	Code           int      `json:"code"`
}

// codeOnly answers {"code":N}.
func codeOnly(status, code int) answer {
	return answer{status: status, code: code, body: []byte(`{"code":` + strconv.Itoa(code) + `}`)}
}

// jsonAnswer encodes v, whose "code" field is code.
func jsonAnswer(status, code int, v any) answer {
	body, err := json.Marshal(v)
	if err != nil {
		return internalError(fmt.Errorf("encode answer: %w", err))
	}
	return answer{status: status, code: code, body: body}
}

// invalidInput answers code 2 with HTTP 400, the status Clore's error-codes
// reference gives it. ASSUMPTION: the wording of "error" is the sandbox's own.
func invalidInput(msg string) answer {
	return jsonAnswer(http.StatusBadRequest, 2, errorBody{Error: msg, Code: 2})
}

// databaseError is Clore's opaque code 1 (HTTP 500 {"code":1}); real Clore
// also answers it for a create_order whose required_price does not match.
func databaseError() answer { return codeOnly(http.StatusInternalServerError, 1) }

// failure answers code 6 with an error string.
func failure(status int, errText string) answer {
	return jsonAnswer(status, 6, errorBody{Error: errText, Code: 6})
}

// alreadyRented is the captured server-already-rented answer: HTTP 200 with
// an extra "status" key.
func alreadyRented() answer {
	return jsonAnswer(http.StatusOK, 6, errorBody{Status: "error", Error: "server-already-rented", Code: 6})
}

// rejection carries a ready answer through an error return.
type rejection struct{ a answer }

// Error implements error.
func (r *rejection) Error() string { return "rejected: " + string(r.a.body) }
