package pipeline

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// header parses the header section of msg; a header it cannot parse is
// empty (the message is still relayed).
func header(msg []byte) textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return textproto.Header{}
	}
	return h
}

var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}

// displayNames maps each lower-cased address of the To and Cc header fields
// to its decoded display name (ISO-2022-JP and other encoded words
// included), for the send records.
func displayNames(h textproto.Header) map[string]string {
	names := map[string]string{}
	for _, field := range []string{"To", "Cc"} {
		for _, v := range h.Values(field) {
			list, err := addressParser.ParseList(v)
			if err != nil {
				continue
			}
			for _, a := range list {
				if a.Name != "" {
					names[strings.ToLower(a.Address)] = a.Name
				}
			}
		}
	}
	return names
}

// fromDomain is the lower-cased domain of the first From address, or "".
func fromDomain(h textproto.Header) string {
	list, err := addressParser.ParseList(h.Get("From"))
	if err != nil || len(list) == 0 {
		return ""
	}
	return domainOf(list[0].Address)
}

func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}
