package sandbox

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"
)

// spotLowerEvery is how often a spot bid may be lowered.
const spotLowerEvery = 600 * time.Second

// spotMaxStep is the largest allowed lowering, relative to the current bid
// (ASSUMPTION: the real step is a per-currency amount that is not documented).
const spotMaxStep = 0.10

// spotOffer is one offer of a spot market.
type spotOffer struct {
	OfferID  int64   `json:"offer_id"`
	Bid      float64 `json:"bid"`
	Active   bool    `json:"active"`
	My       bool    `json:"my"`
	Currency string  `json:"currency"`
}

// spotServer is market.server of the spot_marketplace answer.
type spotServer struct {
	MinPricing map[string]float64 `json:"min_pricing"`
	MRL        int64              `json:"mrl"`
	Visibility string             `json:"visibility"`
	Online     bool               `json:"online"`
}

// spotMarket is the market object of the spot_marketplace answer.
type spotMarket struct {
	Offers             []spotOffer        `json:"offers"`
	Server             spotServer         `json:"server"`
	CurrencyRatesInUSD map[string]float64 `json:"currency_rates_in_usd"`
}

// spotMarketBody is the spot_marketplace answer.
type spotMarketBody struct {
	Market spotMarket `json:"market"`
	Exists bool       `json:"exists"`
	Code   int        `json:"code"`
}

// handleSpotMarketplace serves GET /v1/spot_marketplace?market=<server id>.
func (s *Server) handleSpotMarketplace(ctx context.Context, c call) answer {
	id, err := strconv.ParseInt(c.query.Get("market"), 10, 64)
	if err != nil {
		return invalidInput("market must be a server id")
	}
	sv := s.market.byID[id]
	if sv == nil {
		return failure(http.StatusOK, "server-dont-exist")
	}
	orders, err := s.store.activeSpotOrders(ctx, id, c.now.UnixMilli())
	if err != nil {
		return internalError(err)
	}
	offers := s.market.backgroundOffers(sv, c.now)
	for _, o := range orders {
		offers = append(offers, spotOffer{OfferID: o.ID, Bid: o.Price, Active: true, My: o.KeyHash == c.keyHash, Currency: o.Currency})
	}
	return jsonAnswer(http.StatusOK, 0, spotMarketBody{
		Market: spotMarket{
			Offers:             offers,
			Server:             spotServer{MinPricing: sv.pricing(sv.spot(c.now)), MRL: sv.mrlHours, Visibility: "public", Online: !sv.offline},
			CurrencyRatesInUSD: map[string]float64{currencyBTC: usdPerBTC, currencyCLORE: usdPerCLORE, currencyUSD: 1},
		},
		Exists: true,
		Code:   0,
	})
}

// backgroundOffers are other users' bids: zero to two per time window, the
// highest active while the server is rented by someone else.
func (m *market) backgroundOffers(sv *server, t time.Time) []spotOffer {
	offers := []spotOffer{}
	h := mix(m.seed, uint64(sv.id), m.window(sv, t)^0x6f666665)
	n := int(h % 3)
	cur := sv.allowed[int(h>>8)%len(sv.allowed)]
	min := sv.spot(t).in(cur)
	rented := m.rentedByOthers(sv, t)
	for i := range n {
		bid := round(min*(1+0.04*float64(i)), decimalsOf(cur))
		offers = append(offers, spotOffer{
			OfferID:  1_900_000 + int64(mix(m.seed, uint64(sv.id), uint64(i))%40_000),
			Bid:      bid,
			Active:   rented && i == n-1,
			Currency: cur,
		})
	}
	return offers
}

// setSpotRequest is the set_spot_price body.
type setSpotRequest struct {
	OrderID      *int64   `json:"order_id"`
	DesiredPrice *float64 `json:"desired_price"`
}

// handleSetSpotPrice serves POST /v1/set_spot_price. Raising is always
// allowed; lowering at most spotMaxStep at a time and once per 600 s.
func (s *Server) handleSetSpotPrice(ctx context.Context, c call) answer {
	var req setSpotRequest
	if msg := decodeBody(c.body, &req); msg != "" {
		return invalidInput(msg)
	}
	if req.OrderID == nil || req.DesiredPrice == nil || *req.DesiredPrice <= 0 {
		return invalidInput("order_id and a positive desired_price are required")
	}
	nowMS := c.now.UnixMilli()
	err := s.store.updateSpotPrice(ctx, c.keyHash, *req.OrderID, nowMS, func(o order) spotDecision {
		return s.decideSpotPrice(o, *req.DesiredPrice, c.now)
	})
	if a, ok := orderFailure(err); ok {
		return a
	}
	return codeOnly(http.StatusOK, 0)
}

// decideSpotPrice applies the spot rules to a bid change of o.
func (s *Server) decideSpotPrice(o order, desired float64, now time.Time) spotDecision {
	if !o.Spot {
		return spotDecision{reject: &rejection{invalidInput("not a spot order")}}
	}
	if sv := s.market.byID[o.ServerID]; sv != nil && desired < sv.spot(now).in(o.Currency) {
		return spotDecision{reject: &rejection{failure(http.StatusOK, "amount_too_low")}}
	}
	if desired >= o.Price {
		return spotDecision{price: desired}
	}
	if o.LoweredMS != 0 {
		if wait := o.LoweredMS + spotLowerEvery.Milliseconds() - now.UnixMilli(); wait > 0 {
			secs := int64(math.Ceil(float64(wait) / 1000))
			return spotDecision{reject: &rejection{jsonAnswer(http.StatusOK, 6,
				errorBody{Error: "can_lower_every_600_seconds", TimeToLowering: &secs, Code: 6})}}
		}
	}
	if maxStep := round(o.Price*spotMaxStep, 8); o.Price-desired > maxStep*(1+1e-9) {
		return spotDecision{reject: &rejection{jsonAnswer(http.StatusOK, 6,
			errorBody{Error: "exceeded_max_step", MaxStep: &maxStep, Code: 6})}}
	}
	return spotDecision{price: desired, lowered: true}
}
