package configs

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
)

// Widest prefixes a cloud_networks_file may list: a wider one is no
// provider's range but a mistake that would let half the Internet connect.
const (
	widestCloudV4 = 8
	widestCloudV6 = 16
)

// guidRE is the form of a Microsoft 365 tenant id (a GUID).
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// networks parses a list of CIDRs at key p; a /0 is refused as an open relay.
func (v *validator) networks(p string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for i, n := range list {
		key := index(p, i)
		pfx, msg := parseNetwork(n)
		if msg != "" {
			v.add(key, msg, "write a network in CIDR form such as 10.0.0.0/8 or 2001:db8::/32, or a single address such as 192.0.2.10")
			continue
		}
		if pfx.Bits() == 0 {
			v.add(key, fmt.Sprintf("%s allows every address to relay: an open relay", n),
				"list only the networks of the company's mail servers")
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// multiTenant checks what is safe with one tenant and not with two or
// more: a network or an AUTH user trusted for every tenant lets one
// company's server send as another.
func (v *validator) multiTenant() {
	c := v.c
	for i, u := range c.SMTP.Users {
		p := index("smtp.users", i)
		for j, id := range u.Tenants {
			if c.TenantByID(id) == nil {
				v.add(index(join(p, "tenants"), j), fmt.Sprintf("no tenant has the id %q", id), "list ids from tenants[].id")
			}
		}
		if len(c.Tenants) > 1 && len(u.Tenants) == 0 {
			v.add(join(p, "tenants"), fmt.Sprintf("user %q may send for every tenant, and there are %d", u.Name, len(c.Tenants)),
				"list the tenants this user's mail server sends for, e.g. tenants: [acme]: otherwise one company's server can send as another")
		}
	}
	if len(c.Tenants) > 1 && len(c.SMTP.AllowNetworks) > 0 {
		v.add("smtp.allow_networks", fmt.Sprintf("these networks may send for every tenant, and there are %d", len(c.Tenants)),
			"move each company's networks to its own tenants[].ingress.networks, so that one company's server cannot send as another")
	}
}

// cloudNetworks reads smtp.cloud_networks_file: one CIDR a line, blank
// lines and # comments allowed.
func (v *validator) cloudNetworks() {
	s := &v.c.SMTP
	s.CloudNetworks = nil
	if s.CloudNetworksFile == "" {
		return
	}
	const key = "smtp.cloud_networks_file"
	data, err := os.ReadFile(s.CloudNetworksFile)
	if err != nil {
		msg, hint := fileProblem("cloud networks file", s.CloudNetworksFile, err)
		v.add(key, msg, hint)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		at := fmt.Sprintf("%s:%d: ", s.CloudNetworksFile, n)
		p, msg := parseNetwork(line)
		if msg != "" {
			v.add(key, at+msg, "one CIDR a line, such as 40.92.0.0/15; # starts a comment")
			continue
		}
		if (p.Addr().Is4() && p.Bits() < widestCloudV4) || (!p.Addr().Is4() && p.Bits() < widestCloudV6) {
			v.add(key, at+fmt.Sprintf("%s is wider than /%d (IPv4) or /%d (IPv6): no provider's range is that wide", line, widestCloudV4, widestCloudV6),
				"copy the provider's published ranges as they are (see docs/deploy-exchange-online.md)")
			continue
		}
		s.CloudNetworks = append(s.CloudNetworks, p)
	}
	if err := sc.Err(); err != nil {
		v.add(key, fmt.Sprintf("reading %s: %v", s.CloudNetworksFile, err), "one CIDR a line, such as 40.92.0.0/15")
	}
}

// ingress checks a tenant's proofs at key p (tenants[i]); owners maps every
// tenant domain and DKIM domain seen so far to the key that named it.
func (v *validator) ingress(p string, t *Tenant, owners map[string]string) {
	in := &t.Ingress
	ip := join(p, "ingress")
	in.Prefixes = v.networks(join(ip, "networks"), in.Networks)
	for j, d := range in.DKIMDomains {
		key := index(join(ip, "dkim_domains"), j)
		if msg := checkDomain(d); msg != "" {
			v.add(key, msg, domainHint)
			continue
		}
		d = strings.ToLower(d)
		in.DKIMDomains[j] = d
		if prev, ok := owners[d]; ok && !strings.HasPrefix(prev, p+".") {
			v.add(key, fmt.Sprintf("%q is also %s: another tenant's domain cannot prove this one", d, prev),
				"list only the domains this company's provider signs with, e.g. acme.onmicrosoft.com")
			continue
		}
		owners[d] = key
	}
	if id := in.Microsoft365TenantID; id != "" {
		if !guidRE.MatchString(id) {
			v.add(join(ip, "microsoft365_tenant_id"), fmt.Sprintf("%q is not a tenant id (a GUID such as 0b1c2d3e-...)", id),
				"copy the Tenant ID from the Microsoft Entra admin center, Overview; or run (Get-OrganizationConfig).ExternalDirectoryObjectId")
		}
		if len(in.DKIMDomains) == 0 {
			v.add(join(ip, "microsoft365_tenant_id"), "set, but no dkim_domains: it only narrows a DKIM proof",
				"list the tenant's onmicrosoft.com domain in ingress.dkim_domains")
		}
	}
	if in.HeaderSecretFile != "" {
		v.secret(join(ip, "header_secret_file"), in.HeaderSecretFile, &in.HeaderSecret)
	}
	v.positive(join(ip, "max_signature_age"), in.MaxSignatureAge, "remove the key for the default 1h")

	switch t.Delivery.Mode {
	case "":
		if v.ps.doc.has(p + ".delivery.relay") {
			v.add(p+".delivery.mode", "delivery.relay is set but mode is not", "set mode: relay, or remove the tenant's delivery")
		}
	case "relay":
		v.relay(p+".delivery.relay", &t.Delivery.Relay)
	default:
		v.add(p+".delivery.mode", fmt.Sprintf("unknown mode %q for a tenant's own route", t.Delivery.Mode),
			"use relay (back into Exchange Online or Google's smtp-relay), or remove the tenant's delivery to use the global one")
	}
}
