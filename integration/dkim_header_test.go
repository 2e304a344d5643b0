package integration

import (
	"bytes"
	"net/mail"
	"regexp"
	"strings"
)

// Reading the header fields the DKIM check needs, with no help from the
// code under test.

// hfield is one header field: its lower-case name and unfolded value.
type hfield struct{ name, value string }

// headerFields returns the header fields of msg, top to bottom.
func headerFields(msg []byte) []hfield {
	var fields []hfield
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i+1], msg[i+1:]
		} else {
			msg = nil
		}
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].value += " " + strings.TrimSpace(l)
			continue
		}
		name, value, _ := strings.Cut(l, ":")
		fields = append(fields, hfield{strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)})
	}
	return fields
}

// rawHeaderValue returns the unfolded value of the first field name of msg.
func rawHeaderValue(msg []byte, name string) (string, bool) {
	for _, f := range headerFields(msg) {
		if f.name == strings.ToLower(name) {
			return f.value, true
		}
	}
	return "", false
}

// sigTags are the tags of a DKIM-Signature field, white space removed.
type sigTags map[string]string

func parseTags(v string) sigTags {
	tags := sigTags{}
	for _, spec := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(spec, "=")
		if ok {
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
	}
	return tags
}

var angleAddrRE = regexp.MustCompile(`@([A-Za-z0-9.-]+)>?\s*$`)

// headerFromDomain returns the lower-case domain of msg's first From
// address, or "".
func headerFromDomain(msg []byte) string {
	v, ok := rawHeaderValue(msg, "From")
	if !ok {
		return ""
	}
	if list, err := (&mail.AddressParser{}).ParseList(v); err == nil && len(list) > 0 {
		return domainPart(list[0].Address)
	}
	if m := angleAddrRE.FindStringSubmatch(v); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

// domainPart returns the lower-case domain of an address, or "".
func domainPart(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}
