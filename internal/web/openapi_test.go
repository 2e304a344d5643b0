package web

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDescribesTheTenantAPI: docs/openapi.yaml has exactly the
// tenant API's routes, each with the error answers the API gives, and each
// route it names answers on the public listener (not 404).
func TestOpenAPIDescribesTheTenantAPI(t *testing.T) {
	data, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                      `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any        `yaml:"paths"`
		Comps   struct{ Schemas map[string]map[string]any } `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			responses, _ := op["responses"].(map[string]any)
			for _, code := range []string{"401", "403", "429"} {
				if _, ok := responses[code]; !ok {
					t.Errorf("%s %s: no %s answer", method, path, code)
				}
			}
		}
	}
	for _, r := range tenantAPIRoutes {
		served = append(served, r.Method+" "+r.Path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("docs/openapi.yaml describes %v; the API serves %v", documented, served)
	}
	e, tp := newAPIEnv(t)
	e.pub.SetSubmitter(fakeSubmitter{})
	for _, r := range tenantAPIRoutes {
		path := strings.ReplaceAll(r.Path, "{id}", "acme")
		body, hdr := "", []string(nil)
		switch {
		case strings.HasSuffix(path, "/messages"):
			path += "?from=hr@acme.example&to=taro@cand.example"
			body, hdr = "From: hr@acme.example\r\n\r\nhi\r\n", []string{"Content-Type", "message/rfc822"}
		case r.Method == http.MethodPost:
			body = `{"email":"taro@cand.example"}`
		}
		if rec := apiReq(tp, r.Method, path, acmeAPIKey, body, hdr...); rec.Code/100 != 2 {
			t.Errorf("%s %s: %d %s", r.Method, path, rec.Code, rec.Body)
		}
	}
}

// fakeSubmitter queues every message as q1.
type fakeSubmitter struct{}

func (fakeSubmitter) Submit(context.Context, *configs.Tenant, string, netip.Addr, string, []string, io.Reader) ([]string, error) {
	return []string{"q1"}, nil
}
