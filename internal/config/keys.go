package config

import (
	"reflect"
	"strings"
)

// envPrefix starts every environment variable that config reads.
const envPrefix = "CLOREBOT_"

// envConfigPath names the config file; the CLI reads it, Load ignores it.
const envConfigPath = "CLOREBOT_CONFIG"

// fileSuffix marks the environment variable that holds a secret's file path.
const fileSuffix = "_FILE"

// field is one leaf key of Config: a scalar, a list, or an array of tables.
type field struct {
	Key    string // "section.key"
	Env    string // "CLOREBOT_SECTION_KEY"; empty for arrays of tables
	Secret bool
	Tables bool // an array of tables ([[webhook.keys]]): file only
	index  []int
}

// EnvFile is the environment variable that names a file holding the secret.
func (f field) EnvFile() string { return f.Env + fileSuffix }

// value is the field's settable value inside c.
func (f field) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(f.index)
}

// fields lists every leaf key of Config in declaration order, derived from the toml
// tags, so that the file, the environment and the messages agree on names.
func fields() []field {
	var out []field
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		sec := ct.Field(i)
		secName := tomlName(sec)
		for j := range sec.Type.NumField() {
			leaf := sec.Type.Field(j)
			name := tomlName(leaf)
			if name == "-" { // derived by Load, not a key
				continue
			}
			f := field{
				Key:    secName + "." + name,
				Secret: leaf.Type == reflect.TypeFor[Secret](),
				Tables: isTableArray(leaf.Type),
				index:  []int{i, j},
			}
			if !f.Tables {
				f.Env = envPrefix + strings.ToUpper(secName+"_"+name)
			}
			out = append(out, f)
		}
	}
	return out
}

// fieldByKey finds a leaf key by its "section.key" name.
func fieldByKey(key string) (field, bool) {
	for _, f := range fields() {
		if f.Key == key {
			return f, true
		}
	}
	return field{}, false
}

// envKey returns the environment variable of a key, for messages.
func envKey(key string) string {
	f, _ := fieldByKey(key)
	return f.Env
}

func tomlName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
	return name
}

func isTableArray(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// isTable reports whether t is decoded from a TOML table (a section or an element of
// an array of tables) rather than from a value.
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != reflect.TypeFor[Duration]()
}

// structField finds the field of struct type t whose toml name is name.
func structField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if sf := t.Field(i); tomlName(sf) == name {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}
