package configs

import (
	"net/url"
	"slices"
	"strings"
)

// LinkHosts lists the hosts the links of this config name (spec §16): the
// host of links.base_url and of every tenant's own base URL, in lower
// case, without a port, sorted and each once. It is the only set of names
// http.listen_tls answers for: ACME asks certificates for them alone, and
// http.listen redirects to https only for them.
func (c *Config) LinkHosts() []string {
	var hosts []string
	add := func(raw string) {
		if raw == "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if h := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	add(c.Links.BaseURL)
	for i := range c.Tenants {
		add(c.Tenants[i].Links.BaseURL)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// HostMatches reports whether a certificate's DNS name (a SAN, perhaps a
// wildcard such as *.example.jp) covers host: equal without regard to
// case, or, for a wildcard, host is one more label in front of the rest
// (*.example.jp covers a.example.jp, not example.jp nor a.b.example.jp).
func HostMatches(name, host string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "" || host == "" {
		return false
	}
	if name == host {
		return true
	}
	rest, ok := strings.CutPrefix(name, "*.")
	if !ok || rest == "" {
		return false
	}
	label, parent, ok := strings.Cut(host, ".")
	return ok && label != "" && parent == rest
}
