package clore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Currency names as Clore spells them.
const (
	CurrencyUSD   = "USD-Blockchain"
	CurrencyCLORE = "CLORE-Blockchain"
	CurrencyBTC   = "bitcoin"
)

// Pricing is a price per currency, per day.
type Pricing map[string]float64

// envelope is the part of every answer that says how it went.
type envelope struct {
	Code           *int     `json:"code"`
	Error          string   `json:"error"`
	MaxStep        *float64 `json:"max_step"`
	TimeToLowering *float64 `json:"time_to_lowering"`
}

func (e *envelope) env() *envelope { return e }

// Wallet is one currency account.
type Wallet struct {
	Name          string  `json:"name"`
	Deposit       string  `json:"deposit"`
	Balance       float64 `json:"balance"`
	WithdrawalFee float64 `json:"withdrawal_fee"`
}

// Server is a marketplace server as Clore sends it.
type Server struct {
	ID           int64       `json:"id"`
	Owner        int64       `json:"owner"`
	MRL          FlexInt     `json:"mrl"` // maximum rental length, hours
	Price        ServerPrice `json:"price"`
	Rented       bool        `json:"rented"`
	Specs        Specs       `json:"specs"`
	Reliability  float64     `json:"reliability"`
	AllowedCoins []string    `json:"allowed_coins"`
	Rating       Rating      `json:"rating"`
	GPUArray     []string    `json:"gpu_array"`
	CUDAVersion  FlexString  `json:"cuda_version"`
	Autoprice    FlexString  `json:"autoprice,omitempty"`
	Gigaspot     *bool       `json:"gigaspot,omitempty"`
	OC           *bool       `json:"oc,omitempty"`
	// Fees are the account's renter fees, set by Client.Marketplace; nil
	// means the documented base rates. Offers include them in USD prices.
	Fees *Fees `json:"-"`
}

// ServerPrice is a server's price block; every price is per day.
type ServerPrice struct {
	OnDemand Pricing  `json:"on_demand"`
	Spot     Pricing  `json:"spot"`
	USD      USDPrice `json:"usd"`
}

// USDPrice holds Clore's USD-per-day equivalents of a server's prices.
type USDPrice struct {
	OnDemandUSD   float64 `json:"on_demand_usd"`
	OnDemandBTC   float64 `json:"on_demand_btc"`
	OnDemandCLORE float64 `json:"on_demand_clore"`
	Spot          float64 `json:"spot"`
}

// Rating is a host's rating.
type Rating struct {
	Avg float64 `json:"avg"`
	Cnt int     `json:"cnt"`
}

// Specs is a machine's hardware description.
type Specs struct {
	MB             string     `json:"mb"`
	CPU            string     `json:"cpu"`
	CPUs           string     `json:"cpus"`
	RAM            float64    `json:"ram"`
	GPU            string     `json:"gpu"`
	GPURAM         float64    `json:"gpuram"`
	Disk           string     `json:"disk"`
	DiskSpeed      float64    `json:"disk_speed"`
	Net            Net        `json:"net"`
	BackendVersion FlexInt    `json:"backend_version"`
	PCIeRev        FlexInt    `json:"pcie_rev"`
	PCIeWidth      FlexInt    `json:"pcie_width"`
	StockOC        StockOC    `json:"stock_oc"`
	GPUs           []SpecsGPU `json:"gpus,omitempty"`
}

// Net is a machine's measured network.
type Net struct {
	Up          float64  `json:"up"`
	Down        float64  `json:"down"`
	CC          string   `json:"cc"`
	TestHistory []string `json:"test_history,omitempty"`
}

// SpecsGPU is one entry of the optional specs.gpus list.
type SpecsGPU struct {
	Type      string  `json:"type"`
	Mem       float64 `json:"mem"`
	PCIeGen   FlexInt `json:"pcie_gen"`
	PCIeWidth FlexInt `json:"pcie_width"`
}

// StockOC is specs.stock_oc: either the string "default" or a list of settings.
type StockOC struct {
	Default  bool
	Settings []json.RawMessage
}

// UnmarshalJSON accepts a string, an array, or null.
func (s *StockOC) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = StockOC{}
	case b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = StockOC{Default: str == "default"}
	case b[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*s = StockOC{Settings: list}
	default:
		*s = StockOC{}
	}
	return nil
}

// MarshalJSON writes the shape it was read from.
func (s StockOC) MarshalJSON() ([]byte, error) {
	if s.Settings != nil {
		return json.Marshal(s.Settings)
	}
	if s.Default {
		return []byte(`"default"`), nil
	}
	return []byte("null"), nil
}

// FlexInt decodes a JSON number or a numeric string ("4.0") to an int.
type FlexInt int64

// UnmarshalJSON accepts 3, 3.0, "3", "4.0", null and "".
func (n *FlexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = FlexInt(i)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("clore: %q is not a number", s)
	}
	*n = FlexInt(f)
	return nil
}

// FlexString decodes a JSON string or number to a string.
type FlexString string

// UnmarshalJSON accepts a string, a number, a bool or null.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = FlexString(str)
		return nil
	}
	if string(b) == "null" || string(b) == "false" {
		*s = ""
		return nil
	}
	*s = FlexString(b)
	return nil
}

// Order is one of the account's orders as my_orders returns it. Clore has no
// status field: see State.
type Order struct {
	ID               int64      `json:"id"`
	ServerID         int64      `json:"si"`
	Image            string     `json:"image"`
	Currency         string     `json:"currency"`
	Price            float64    `json:"price"` // per day, in Currency; the current bid for spot
	CreationFee      float64    `json:"creation_fee"`
	Spend            float64    `json:"spend"`
	CreatedUnix      int64      `json:"ct"`
	MRL              FlexInt    `json:"mrl"` // seconds in observed data
	Specs            Specs      `json:"specs"`
	Online           bool       `json:"online"`
	MonContainer     FlexInt    `json:"mon_container"`
	PubCluster       HostList   `json:"pub_cluster"`
	TCPPorts         PortList   `json:"tcp_ports"`
	HTTPPort         FlexString `json:"http_port"`
	HTTPPub          string     `json:"http_pub"`
	Rating           Rating     `json:"rating"`
	Reliability      float64    `json:"reliability"`
	Owner            int64      `json:"owner"`
	CUDAVersion      FlexString `json:"cuda_version"`
	GPUArray         []string   `json:"gpu_array"`
	Spot             bool       `json:"spot,omitempty"`
	Expired          bool       `json:"expired,omitempty"`
	OriginalPriceUSD float64    `json:"original_price_usd,omitempty"`
}

// CreateOrderRequest is the body of create_order. Prices are per day in Currency.
type CreateOrderRequest struct {
	RentingServer int64             `json:"renting_server"`
	Type          string            `json:"type"` // OrderOnDemand or OrderSpot
	Currency      string            `json:"currency"`
	Image         string            `json:"image"`
	SpotPrice     float64           `json:"spotprice,omitempty"`
	Ports         map[string]string `json:"ports,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	JupyterToken  string            `json:"jupyter_token,omitempty"`
	SSHPassword   string            `json:"ssh_password,omitempty"`
	SSHKey        string            `json:"ssh_key,omitempty"`
	Command       string            `json:"command,omitempty"`
	RequiredPrice float64           `json:"required_price,omitempty"`
	AutoSSH       bool              `json:"autossh_entrypoint,omitempty"`
}

// Order types of create_order.
const (
	OrderOnDemand = "on-demand"
	OrderSpot     = "spot"
)

// SpotMarket is the answer of spot_marketplace for one server.
type SpotMarket struct {
	Exists bool `json:"exists"`
	Market struct {
		Offers []SpotOffer `json:"offers"`
		Server struct {
			MinPricing Pricing `json:"min_pricing"`
			MRL        FlexInt `json:"mrl"`
			Visibility string  `json:"visibility"`
			Online     bool    `json:"online"`
		} `json:"server"`
		CurrencyRatesUSD Pricing `json:"currency_rates_in_usd,omitempty"`
	} `json:"market"`
}

// SpotOffer is one bid on a server's spot market.
type SpotOffer struct {
	OfferID  int64   `json:"offer_id"`
	Bid      float64 `json:"bid"` // per day
	Active   bool    `json:"active"`
	My       bool    `json:"my"`
	Currency string  `json:"currency,omitempty"`
}
