package pipeline

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/careerrelay/careerrelay/internal/address"
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

// addressParser decodes display names in every charset go-message knows.
// Its CharsetReader decodes the (short) word at once and hands back a
// bytes.Reader: mime.WordDecoder copies from it with io.Copy, which
// would otherwise allocate a 32 KB buffer for every encoded word.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(cs string, in io.Reader) (io.Reader, error) {
	r, err := charset.Reader(cs, in)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	return bytes.NewReader(b), err
}}}

// addressOnlyParser finds the addresses of a field without decoding
// display names (their words are kept as they are).
var addressOnlyParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, in io.Reader) (io.Reader, error) {
	return in, nil // a *bytes.Reader: copied without a buffer
}}}

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
	list, err := addressOnlyParser.ParseList(h.Get("From"))
	if err != nil || len(list) == 0 {
		return ""
	}
	return address.Domain(list[0].Address)
}
