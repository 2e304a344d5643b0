package configs

import "reflect"

// SchemaKey is one key of the configuration file.
type SchemaKey struct {
	// Path is the key as docs/reference.md writes it: mapping keys joined
	// with dots, a list of mappings marked [] (tenants[].dkim[].selector).
	Path string
	// Type is the Go type the value decodes into (time.Duration for a
	// duration, []string for a list of strings, a struct for a mapping of
	// known keys, map[string]string for delivery.mx_overrides).
	Type reflect.Type
}

// Schema lists every key of the configuration file, parents before their
// children, in the order of the Config struct. Derived fields (yaml:"-")
// are not keys.
func Schema() []SchemaKey { return schemaOf(reflect.TypeFor[Config](), "") }

func schemaOf(t reflect.Type, path string) []SchemaKey {
	var out []SchemaKey
	for f := range fieldsOf(t) {
		p := join(path, yamlKey(f))
		ft := f.Type
		out = append(out, SchemaKey{Path: p, Type: ft})
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, schemaOf(ft.Elem(), p+"[]")...)
		case ft.Kind() == reflect.Struct:
			out = append(out, schemaOf(ft, p)...)
		}
	}
	return out
}
