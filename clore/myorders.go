package clore

import (
	"encoding/json"
	"errors"
)

// myOrdersResponse is the answer of GET /my_orders, decoded order by order:
// with return_completed the account's whole history comes back, and one old
// entry in a shape the client does not expect must not hide the running
// orders (nor stop their TTL cancels).
type myOrdersResponse struct {
	envelope
	Orders []Order
	// skipped are the entries left out, in list order.
	skipped []malformedEntry
}

// errNoOrderID marks an entry without a usable id (a null entry decodes to a
// zero Order): it can be neither matched nor cancelled.
var errNoOrderID = errors.New("no order id")

// UnmarshalJSON keeps every order that decodes. Only an answer whose
// "orders" is not a list is an error.
func (r *myOrdersResponse) UnmarshalJSON(b []byte) error { return r.decodeAnswer(b) }

// decodeAnswer is UnmarshalJSON; decode calls it directly (unmarshalAnswer).
// Its first json.Unmarshal, of all of b, rejects a body that is not JSON.
func (r *myOrdersResponse) decodeAnswer(b []byte) error {
	var l struct {
		envelope
		Orders []json.RawMessage `json:"orders"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	r.envelope = l.envelope
	r.Orders = make([]Order, 0, len(l.Orders))
	for i, raw := range l.Orders {
		var o Order
		err := json.Unmarshal(raw, &o)
		if err == nil && o.ID <= 0 {
			err = errNoOrderID
		}
		if err != nil {
			r.skipped = append(r.skipped, newMalformedEntry(i, raw, err))
			continue
		}
		r.Orders = append(r.Orders, o)
	}
	return nil
}
