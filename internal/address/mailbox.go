package address

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// The faults an address can have; Check and Deliverable wrap one of them.
var (
	// ErrSyntax: not an RFC 5321 (or, with SMTPUTF8, RFC 6531) mailbox,
	// or it holds a control character, a NUL or bytes that are not UTF-8.
	ErrSyntax = errors.New("bad address syntax")
	// ErrNeedsUTF8: a well-formed non-ASCII address from a client that did
	// not say SMTPUTF8 on MAIL.
	ErrNeedsUTF8 = errors.New("non-ASCII address without SMTPUTF8")
	// ErrUndeliverable: a well-formed address that careerrelay does not
	// deliver to: an address literal, a single-label domain, localhost, an
	// IP address without brackets.
	ErrUndeliverable = errors.New("recipient domain not deliverable")
)

// Length limits of RFC 5321 section 4.5.3.1, in octets.
const (
	maxLocal   = 64
	maxDomain  = 255
	maxAddress = 254 // a path is at most 256 octets with its brackets
	maxLabel   = 63
)

// Check checks a mailbox as go-smtp hands it over (a quoted local part
// arrives unquoted) and returns it as it is to be kept: unchanged, except
// that a local part that is not a dot-atom is quoted again, so that the
// address the client meant travels on. Non-ASCII is allowed only when
// smtputf8 (the client said SMTPUTF8 on MAIL), and then only valid UTF-8;
// a domain is hostname labels (U-labels with smtputf8, which must convert
// to A-labels) or an IPv4 or IPv6 address literal. No byte is replaced.
func Check(addr string, smtputf8 bool) (string, error) {
	ascii := true
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control character %#02x", ErrSyntax, c)
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if !ascii {
		if !utf8.ValidString(addr) {
			return "", fmt.Errorf("%w: not UTF-8", ErrSyntax)
		}
		for _, r := range addr {
			if unicode.IsControl(r) {
				return "", fmt.Errorf("%w: control character %U", ErrSyntax, r)
			}
		}
		if !smtputf8 {
			return "", ErrNeedsUTF8
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "", fmt.Errorf("%w: no local part", ErrSyntax)
	}
	local, domain := addr[:at], addr[at+1:]
	if err := checkDomain(domain); err != nil {
		return "", err
	}
	if !dotAtom(local) {
		local = quote(local)
	}
	if len(local) > maxLocal {
		return "", fmt.Errorf("%w: local part over %d octets", ErrSyntax, maxLocal)
	}
	out := local + "@" + domain
	if len(out) > maxAddress {
		return "", fmt.Errorf("%w: address over %d octets", ErrSyntax, maxAddress)
	}
	return out, nil
}

// Deliverable refuses, with ErrUndeliverable, the domains careerrelay
// never delivers to, before anything is looked up: address literals,
// single labels (which a resolver's search list would complete to an
// internal name), localhost and *.localhost, and a numeric top-level
// label (127.0.0.1 without brackets). domain has passed Check.
func Deliverable(domain string) error {
	if strings.HasPrefix(domain, "[") {
		return fmt.Errorf("%w: address literal %s", ErrUndeliverable, domain)
	}
	a, err := ASCIIDomain(domain)
	if err != nil {
		return err
	}
	switch {
	case !strings.Contains(a, "."):
		return fmt.Errorf("%w: single-label domain %s", ErrUndeliverable, a)
	case a == "localhost" || strings.HasSuffix(a, ".localhost"):
		return fmt.Errorf("%w: %s", ErrUndeliverable, a)
	case strings.Trim(a[strings.LastIndexByte(a, '.')+1:], "0123456789") == "":
		// No top-level domain is numeric (RFC 3696 section 2): this is
		// an IP address without the brackets of a literal.
		return fmt.Errorf("%w: numeric top-level label in %s", ErrUndeliverable, a)
	}
	return nil
}

// ASCIIDomain is domain as it is looked up in the DNS: lower-cased, its
// U-labels converted to A-labels (punycode, IDNA2008 lookup rules), every
// label a hostname label (letters, digits, hyphens inside), none empty.
// The error wraps ErrSyntax.
func ASCIIDomain(domain string) (string, error) {
	if domain == "" || len(domain) > maxDomain {
		return "", fmt.Errorf("%w: domain empty or over %d octets", ErrSyntax, maxDomain)
	}
	a, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q: %v", ErrSyntax, domain, err)
	}
	if len(a) > maxDomain {
		return "", fmt.Errorf("%w: domain over %d octets", ErrSyntax, maxDomain)
	}
	for _, l := range strings.Split(a, ".") {
		if !hostLabel(l) {
			return "", fmt.Errorf("%w: domain %q: bad label %q", ErrSyntax, domain, l)
		}
	}
	return a, nil
}

// checkDomain accepts hostname labels and address literals.
func checkDomain(d string) error {
	if strings.HasPrefix(d, "[") {
		lit, ok := strings.CutSuffix(d[1:], "]")
		if !ok {
			return fmt.Errorf("%w: address literal %q", ErrSyntax, d)
		}
		if v6, ok := strings.CutPrefix(lit, "IPv6:"); ok {
			if a, err := netip.ParseAddr(v6); err == nil && a.Is6() && a.Zone() == "" {
				return nil
			}
		} else if a, err := netip.ParseAddr(lit); err == nil && a.Is4() {
			return nil
		}
		return fmt.Errorf("%w: address literal %q", ErrSyntax, d)
	}
	_, err := ASCIIDomain(d)
	return err
}

// hostLabel: 1 to 63 letters, digits and hyphens, no hyphen first or last.
func hostLabel(l string) bool {
	if l == "" || len(l) > maxLabel || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dotAtom: atoms of atext (and non-ASCII, which Check allowed already)
// joined by single dots.
func dotAtom(s string) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			if c < 0x80 && !atext(c) {
				return false
			}
		}
	}
	return true
}

func atext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// quote makes the quoted-string of a local part (RFC 5321 section 4.1.2):
// printable ASCII and space, '"' and '\' as quoted pairs.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
