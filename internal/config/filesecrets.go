package config

import (
	"fmt"
	"os"
	"reflect"
)

// SecretsInFile lists the secret keys (API keys, tokens, signing secrets,
// webhook secrets, notify URLs) that the TOML file at path sets to a
// non-empty value itself, as opposed to through the environment or a
// secret_file: such a file must be readable by its owner only. The
// values are not returned.
func SecretsInFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read config file: %w", err)
	}
	var cfg Config
	if err := decodeFile(&cfg, path, data); err != nil {
		return nil, err
	}
	var keys []string
	walkSecrets("", reflect.ValueOf(cfg), &keys)
	return keys, nil
}

// walkSecrets appends to keys the names of the non-empty Secret fields of
// v (a section, a table, an array of tables), prefix being v's key.
func walkSecrets(prefix string, v reflect.Value, keys *[]string) {
	t := v.Type()
	for i := range t.NumField() {
		sf, fv := t.Field(i), v.Field(i)
		key := joinKey(prefix, tomlName(sf))
		switch {
		case sf.Type == reflect.TypeFor[Secret]():
			if fv.String() != "" {
				*keys = append(*keys, key)
			}
		case isTableArray(sf.Type):
			for j := range fv.Len() {
				walkSecrets(fmt.Sprintf("%s[%d]", key, j), fv.Index(j), keys)
			}
		case isTable(sf.Type):
			walkSecrets(key, fv, keys)
		}
	}
}
