package clore

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// HostList is an order's pub_cluster: its public host names. Current orders
// send a list (["n1.us.clorecloud.net"]); older orders and the first official
// SDK show a single string. Any other shape decodes as no hosts rather than
// failing the order: the hosts only serve to show how to connect.
type HostList []string

// UnmarshalJSON accepts a list of strings, a string, or null.
func (h *HostList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*h = nil
	switch {
	case len(b) == 0:
	case b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) == nil && strings.TrimSpace(s) != "" {
			*h = HostList{strings.TrimSpace(s)}
		}
	case b[0] == '[':
		var list []json.RawMessage
		if json.Unmarshal(b, &list) != nil {
			return nil
		}
		for _, raw := range list {
			var s string
			if json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) != "" {
				*h = append(*h, strings.TrimSpace(s))
			}
		}
	}
	return nil
}

// PortList is an order's tcp_ports as "containerPort:publicPort" strings
// ("22:1972" means `ssh -p 1972` reaches the container's port 22). Current
// orders send that list; older orders send an object, which is normalised to
// the same strings sorted by container port. Any other shape decodes as no
// ports rather than failing the order.
//
// ASSUMPTION: the object maps a container port (possibly "22/tcp") to its
// public port, as a string or a number ({"22": "1972"}); a value of the form
// "host:port" keeps its port. No capture of the object form was found.
type PortList []string

// UnmarshalJSON accepts a list, an object, a single "inner:outer" string, or null.
func (p *PortList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*p = nil
	switch {
	case len(b) == 0:
	case b[0] == '"':
		if s, ok := portText(b); ok && strings.Contains(s, ":") {
			*p = PortList{s}
		}
	case b[0] == '[':
		var list []json.RawMessage
		if json.Unmarshal(b, &list) != nil {
			return nil
		}
		for _, raw := range list {
			if s, ok := portText(raw); ok {
				*p = append(*p, s)
			}
		}
	case b[0] == '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return nil
		}
		*p = portsFromObject(m)
	}
	return nil
}

// portsFromObject normalises the object form of tcp_ports.
func portsFromObject(m map[string]json.RawMessage) PortList {
	type mapping struct {
		inner       int
		key, public string
	}
	var ms []mapping
	for k, raw := range m {
		inner, _, _ := strings.Cut(strings.TrimSpace(k), "/")
		n, err := strconv.Atoi(inner)
		public, ok := portText(raw)
		if i := strings.LastIndex(public, ":"); i >= 0 {
			public = public[i+1:]
		}
		if err != nil || !ok || public == "" {
			continue
		}
		ms = append(ms, mapping{inner: n, key: inner, public: public})
	}
	slices.SortFunc(ms, func(a, b mapping) int {
		return cmp.Or(cmp.Compare(a.inner, b.inner), strings.Compare(a.public, b.public))
	})
	out := make(PortList, 0, len(ms))
	for _, x := range ms {
		out = append(out, x.key+":"+x.public)
	}
	return out
}

// portText reads a JSON string or number as text; ok is false for other shapes
// and for empty strings.
func portText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" {
			return "", false
		}
		return strings.TrimSpace(s), true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil || n == "" { // null leaves n empty
		return "", false
	}
	return n.String(), true
}
