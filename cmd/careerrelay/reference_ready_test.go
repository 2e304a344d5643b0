package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/server"
)

// TestReferenceReadyFile: the reference's -ready-file row and the serve
// help name every key of the ready file (server.Ready's JSON), in order.
func TestReferenceReadyFile(t *testing.T) {
	var keys []string
	rt := reflect.TypeFor[server.Ready]()
	for i := range rt.NumField() {
		tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		keys = append(keys, `"`+tag+`"`)
	}
	want := "{" + strings.Join(keys, ", ") + "}"
	if md := readReference(t); !strings.Contains(md, "`"+want+"`") {
		t.Errorf("reference: the -ready-file row does not show the keys as `%s`", want)
	}
	help := strings.ReplaceAll(readyFileHelp, "\n", " ")
	if !strings.Contains(help, want) {
		t.Errorf("serve -ready-file help does not show the keys as %s:\n%s", want, readyFileHelp)
	}
}
