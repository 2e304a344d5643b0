package main

// The configuration section of docs/reference.md against configs.Schema()
// and the defaults a loaded config gets.

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

// ---- configuration ------------------------------------------------------

// typeWord is how the reference names the type of a key's value.
func typeWord(t reflect.Type) string {
	durationType := reflect.TypeFor[time.Duration]()
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Struct:
		return "mapping"
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.String:
		return "map of strings"
	case t.Kind() == reflect.Slice && t.Elem() == durationType:
		return "list of durations"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list of strings"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "list of mappings"
	}
	return "unknown type " + t.String()
}

// configRow is one key of the reference's Configuration section.
type configRow struct{ typ, def, meaning string }

func configRows(t *testing.T, md string) map[string]configRow {
	t.Helper()
	rows := map[string]configRow{}
	for _, r := range tableRows(topSection(t, md, "Configuration")) {
		key, ok := firstCode(r[0])
		if !ok {
			continue
		}
		if len(r) != 4 {
			t.Errorf("reference: key %s: want 4 cells (key, type, default, meaning), have %d", key, len(r))
			continue
		}
		if _, dup := rows[key]; dup {
			t.Errorf("reference: key %s is documented twice", key)
		}
		rows[key] = configRow{typ: r[1], def: r[2], meaning: r[3]}
	}
	return rows
}

// TestReferenceConfigKeys: every key of the schema is documented with its
// type and a meaning, and every documented key exists.
func TestReferenceConfigKeys(t *testing.T) {
	rows := configRows(t, readReference(t))
	schema := configs.Schema()
	if len(schema) < 50 {
		t.Fatalf("configs.Schema() lists %d keys; the schema has more", len(schema))
	}
	known := map[string]bool{}
	for _, k := range schema {
		known[k.Path] = true
		r, ok := rows[k.Path]
		if !ok {
			t.Errorf("reference: config key %s is not documented", k.Path)
			continue
		}
		if want := typeWord(k.Type); r.typ != want {
			t.Errorf("reference: config key %s: type %q, want %q", k.Path, r.typ, want)
		}
		// A mapping's row may leave the default empty; every key says
		// what it is for.
		if r.meaning == "" {
			t.Errorf("reference: config key %s has no meaning", k.Path)
		}
	}
	for key := range rows {
		if !known[key] {
			t.Errorf("reference: config key %s is documented but is not in the schema", key)
		}
	}
}

// minimalConfig sets the keys that have no default; every other key takes
// its default when loaded.
const minimalConfig = `data_dir: data
smtp:
  listen: "127.0.0.1:0"
  hostname: relay.test.example
  allow_networks: [127.0.0.1]
delivery:
  relay:
    address: "smtp.test.example:587"
links:
  base_url: https://careers.test.example
  keys: [{id: k1, secret_file: link.key}]
agency:
  name: Test Agency
  registration_url: https://agency.test.example/register
tenants:
  - id: acme
    name: Acme
    domains: [acme.test.example]
`

// minimalSet are the keys minimalConfig sets (and their mappings).
var minimalSet = []string{
	"data_dir", "smtp.listen", "smtp.hostname", "smtp.allow_networks",
	"delivery.relay.address", "links.base_url", "links.keys", "links.keys[].id",
	"links.keys[].secret_file", "agency.name", "agency.registration_url",
	"tenants", "tenants[].id", "tenants[].name", "tenants[].domains",
}

// valueAt follows a schema path (lists as []: their first item) in v, a
// Config.
func valueAt(v reflect.Value, path string) (reflect.Value, bool) {
	for _, part := range strings.Split(path, ".") {
		list := strings.HasSuffix(part, "[]")
		name := strings.TrimSuffix(part, "[]")
		found := false
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
		if list {
			if v.Len() == 0 {
				return reflect.Value{}, false
			}
			v = v.Index(0)
		}
	}
	return v, true
}

// zeroDefaults are what the reference may write for a key whose default
// is empty, false or 0.
var zeroDefaults = []string{"none", "`\"\"`", "`false`", "`0`", "`[]`", "`{}`"}

// TestReferenceConfigDefaults loads a config that sets only what has no
// default and compares every other key's value with its documented
// default: a `literal`, a `key` whose value it takes, or "none" for an
// empty value.
func TestReferenceConfigDefaults(t *testing.T) {
	rows := configRows(t, readReference(t))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "link.key"), []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "careerrelay.yaml")
	if err := os.WriteFile(path, []byte(minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	root := reflect.ValueOf(cfg).Elem()
	for _, k := range configs.Schema() {
		r, ok := rows[k.Path]
		if !ok || slices.Contains(minimalSet, k.Path) || k.Type.Kind() == reflect.Struct {
			continue // missing ones fail TestReferenceConfigKeys
		}
		v, ok := valueAt(root, k.Path)
		if !ok {
			continue // a key of the items of a list the config leaves empty
		}
		lit, isLit := firstCode(r.def)
		if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
			zero := strings.HasPrefix(r.def, "required")
			for _, z := range zeroDefaults {
				zero = zero || strings.HasPrefix(r.def, z)
			}
			if !zero {
				t.Errorf("reference: %s: default %q, but a config without it has none", k.Path, r.def)
			}
			continue
		}
		if !isLit {
			t.Errorf("reference: %s: default %q, want the value %v as `code`", k.Path, r.def, v.Interface())
			continue
		}
		if other, ok := valueAt(root, lit); ok && rows[lit] != (configRow{}) {
			if !reflect.DeepEqual(v.Interface(), other.Interface()) {
				t.Errorf("reference: %s: default %s, but it is %v, not %v", k.Path, lit, v.Interface(), other.Interface())
			}
			continue
		}
		if !sameValue(v, lit) {
			t.Errorf("reference: %s: default `%s`, but a config without it has %v", k.Path, lit, v.Interface())
		}
	}
}

// sameValue tells whether the literal lit, as the reference writes it,
// is the value v.
func sameValue(v reflect.Value, lit string) bool {
	switch x := v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(lit)
		return err == nil && d == x
	case []time.Duration:
		parts := strings.Split(strings.Trim(lit, "[]"), ",")
		if len(parts) != len(x) {
			return false
		}
		for i, p := range parts {
			if d, err := time.ParseDuration(strings.TrimSpace(p)); err != nil || d != x[i] {
				return false
			}
		}
		return true
	}
	switch v.Kind() {
	case reflect.String:
		if s, err := strconv.Unquote(lit); err == nil {
			lit = s
		}
		return lit == v.String()
	case reflect.Bool:
		b, err := strconv.ParseBool(lit)
		return err == nil && b == v.Bool()
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(lit, 10, 64)
		return err == nil && n == v.Int()
	}
	return false
}
