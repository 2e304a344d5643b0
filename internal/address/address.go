// Package address holds the one way careerrelay reads the parts of a mail
// address (RFC 5321 local@domain), so that the tenant lookup, the internal
// recipient check, delivery routing and the admin views agree on what an
// address's domain is.
package address

import "strings"

// Domain is the domain of addr: what follows its last '@', lower-cased,
// with one trailing dot (the DNS root) removed. It is "" when addr has no
// '@' or nothing after it.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}
