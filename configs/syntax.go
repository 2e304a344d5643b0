package configs

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// checkHostPort checks a host:port address. A listener may leave the host
// out (":25", all addresses) and use port 0 (any free port, for tests); a
// peer address needs both. It returns "" when addr is fine, else what is
// wrong.
func checkHostPort(addr string, listener bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not a host:port address", addr)
	}
	if host == "" && !listener {
		return fmt.Sprintf("%q has no host", addr)
	}
	if host != "" && !validHostName(host) && net.ParseIP(host) == nil {
		return fmt.Sprintf("%q: %q is neither an IP address nor a host name", addr, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listener) {
		return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return ""
}

const hostPortHint = `write host:port, e.g. "127.0.0.1:25", "[::1]:25", or ":25" for all addresses`

var labelRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// validLabel reports whether s is one DNS label (letters, digits and inner
// hyphens, at most 63 characters).
func validLabel(s string) bool { return labelRE.MatchString(s) }

// validHostName reports whether s is a DNS name made of valid labels, at
// most 253 characters, without a trailing dot. Underscores are not allowed
// (they are for service labels, not host or mail domain names).
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// domainHint explains what a valid domain looks like.
const domainHint = "write an ASCII domain name such as example.jp, without a trailing dot or @; write international domains in their xn-- form"

// checkDomain returns what is wrong with domain d, or "".
func checkDomain(d string) string {
	switch {
	case d == "":
		return "empty domain"
	case strings.HasSuffix(d, "."):
		return fmt.Sprintf("%q ends with a dot", d)
	case strings.Contains(d, "@"):
		return fmt.Sprintf("%q is an address, not a domain", d)
	case !validHostName(d):
		return fmt.Sprintf("%q is not a valid domain name", d)
	}
	return ""
}

// checkURL parses raw as an absolute URL with one of schemes and a host,
// without user info or fragment. It returns the URL or what is wrong.
func checkURL(raw string, schemes ...string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Sprintf("%q is not a URL: %v", raw, unwrapURLError(err))
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, fmt.Sprintf("%q is not an absolute URL", raw)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return nil, fmt.Sprintf("%q: scheme %q is not %s", raw, u.Scheme, strings.Join(schemes, " or "))
	}
	if u.User != nil {
		return nil, fmt.Sprintf("%q holds a user name or password", raw)
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return nil, fmt.Sprintf("%q has a #fragment", raw)
	}
	return u, ""
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

var colorRE = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

var tenantIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

var linkKeyIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)
