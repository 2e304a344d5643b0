package address

import "strings"

// gmailDomains are the domains whose mailboxes ignore dots in the local
// part; googlemail.com is the same mailbox as gmail.com.
var gmailDomains = map[string]bool{"gmail.com": true, "googlemail.com": true}

// Identity is the mailbox behind addr, the form in which the spellings of
// one person's address count once (a candidate is referred once per
// tenant). The rules, in order:
//
//   - white space around it goes, and the whole address is lower-cased
//     (local parts are case-blind at every provider that matters);
//   - the domain loses a trailing dot and is written in A-labels
//     (例え.jp and xn--r8jz45g.jp are one domain);
//   - a sub-address goes: everything from the first '+' of an unquoted
//     local part ("taro+jobs" is "taro"), unless nothing would be left;
//   - at gmail.com and googlemail.com, dots in the local part go and the
//     domain is gmail.com ("t.aro@googlemail.com" is "taro@gmail.com").
//
// A quoted local part is kept as it is, lower-cased. An address without
// '@' is only trimmed and lower-cased.
func Identity(addr string) string {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], strings.TrimSuffix(addr[at+1:], ".")
	if a, err := ASCIIDomain(domain); err == nil {
		domain = a
	}
	if !strings.HasPrefix(local, `"`) {
		if i := strings.IndexByte(local, '+'); i > 0 {
			local = local[:i]
		}
		if gmailDomains[domain] {
			if l := strings.ReplaceAll(local, ".", ""); l != "" {
				local = l
			}
			domain = "gmail.com"
		}
	}
	return local + "@" + domain
}
