package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decodeFile applies the TOML document data, read from name, on top of cfg. Every
// unknown key and every value of the wrong type is reported as a *KeyError naming
// the key (and its line when it can be found); a syntax error keeps the parser's
// line and column.
func decodeFile(cfg *Config, name string, data []byte) error {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return fmt.Errorf("config: %s: %w", name, err)
	}
	d := fileDecoder{name: name, lines: keyLines(string(data))}
	d.table("", doc, reflect.ValueOf(cfg).Elem())
	return errors.Join(d.errs...)
}

// fileDecoder walks a decoded TOML document alongside the Config struct.
type fileDecoder struct {
	name  string
	lines map[string]int
	errs  []error
}

func (d *fileDecoder) fail(key, problem string) {
	if line, ok := d.lines[key]; ok {
		problem = fmt.Sprintf("%s (%s line %d)", problem, d.name, line)
	} else {
		problem = fmt.Sprintf("%s (in %s)", problem, d.name)
	}
	d.errs = append(d.errs, &KeyError{Key: key, Problem: problem})
}

// table decodes the TOML table doc into the struct v; prefix is doc's own key.
func (d *fileDecoder) table(prefix string, doc map[string]any, v reflect.Value) {
	names := make([]string, 0, len(doc))
	for name := range doc {
		names = append(names, name)
	}
	// Report problems in file order; keys whose line is unknown go last.
	line := func(name string) int {
		if n, ok := d.lines[joinKey(prefix, name)]; ok {
			return n
		}
		return int(^uint(0) >> 1)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := line(a) - line(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		key := joinKey(prefix, name)
		sf, ok := structField(v.Type(), name)
		if !ok {
			d.fail(key, "unknown key")
			continue
		}
		d.value(key, doc[name], v.FieldByIndex(sf.Index))
	}
}

// value decodes one TOML value into v: a section, an array of tables or a leaf.
func (d *fileDecoder) value(key string, raw any, v reflect.Value) {
	switch t := v.Type(); {
	case isTable(t):
		sub, ok := raw.(map[string]any)
		if !ok {
			d.fail(key, fmt.Sprintf("want a table [%s], got %s", key, tomlType(raw)))
			return
		}
		d.table(key, sub, v)
	case isTableArray(t):
		elems, ok := tableArray(raw)
		if !ok {
			d.fail(key, fmt.Sprintf("want an array of tables [[%s]], got %s", key, tomlType(raw)))
			return
		}
		s := reflect.MakeSlice(t, len(elems), len(elems))
		for i, elem := range elems {
			d.table(fmt.Sprintf("%s[%d]", key, i), elem, s.Index(i))
		}
		v.Set(s)
	default:
		if err := setFromTOML(v, raw); err != nil {
			d.fail(key, err.Error())
		}
	}
}

// tableArray accepts both [[x]] sections and an inline array of inline tables.
func tableArray(raw any) ([]map[string]any, bool) {
	switch a := raw.(type) {
	case []map[string]any:
		return a, true
	case []any:
		out := make([]map[string]any, 0, len(a))
		for _, e := range a {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		}
		return out, true
	}
	return nil, false
}

// setFromTOML stores a decoded TOML value in the leaf v. A mismatch error shows
// the value only when v is not a Secret.
func setFromTOML(v reflect.Value, raw any) error {
	t := v.Type()
	secret := t == reflect.TypeFor[Secret]()
	switch {
	case t == reflect.TypeFor[Duration]():
		s, ok := raw.(string)
		if !ok {
			return mismatch(`a duration string such as "30s"`, raw, false)
		}
		return v.Addr().Interface().(*Duration).UnmarshalText([]byte(s))
	case t.Kind() == reflect.String:
		s, ok := raw.(string)
		if !ok {
			return mismatch("a string", raw, secret)
		}
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return mismatch("true or false", raw, false)
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		n, ok := raw.(int64)
		if !ok || v.OverflowInt(n) {
			return mismatch("an integer", raw, false)
		}
		v.SetInt(n)
	case t.Kind() == reflect.Float64:
		return setFloat(v, raw)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return setStrings(v, raw)
	default:
		return fmt.Errorf("unsupported field type %s", t)
	}
	return nil
}

func setFloat(v reflect.Value, raw any) error {
	switch n := raw.(type) {
	case float64:
		v.SetFloat(n)
	case int64:
		v.SetFloat(float64(n))
	default:
		return mismatch("a number", raw, false)
	}
	return nil
}

func setStrings(v reflect.Value, raw any) error {
	arr, ok := raw.([]any)
	if !ok {
		return mismatch(`an array of strings such as ["a", "b"]`, raw, false)
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return fmt.Errorf("want an array of strings, element %d is %s", i, tomlType(e))
		}
		out = append(out, s)
	}
	v.Set(reflect.ValueOf(out))
	return nil
}

// mismatch describes a value of the wrong type; secrets never show their value.
func mismatch(want string, raw any, secret bool) error {
	switch raw.(type) {
	case string, int64, float64, bool:
		if !secret {
			return fmt.Errorf("want %s, got %s %s", want, tomlType(raw), tomlLiteral(raw))
		}
	}
	return fmt.Errorf("want %s, got %s", want, tomlType(raw))
}

func tomlType(raw any) string {
	switch raw.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", raw)
}

func tomlLiteral(raw any) string {
	if s, ok := raw.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(raw)
}

// setFromString stores an environment variable's value in the leaf v. Lists are
// comma-separated; blanks around items are dropped.
func setFromString(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case t == reflect.TypeFor[Duration]():
		return v.Addr().Interface().(*Duration).UnmarshalText([]byte(s))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case t.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(x)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(splitList(s)))
	default:
		return fmt.Errorf("unsupported field type %s", t)
	}
	return nil
}

func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
