package pipeline

import (
	"bufio"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

func parseHeader(t *testing.T, s string) textproto.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(s + "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Display names in ISO-2022-JP (the usual encoding of Japanese ATSs) and
// UTF-8 are decoded for the send records; the From domain is found
// whatever the name's charset, even one nobody knows.
func TestDisplayNamesAndFromDomain(t *testing.T) {
	h := parseHeader(t, "From: =?ISO-2022-JP?B?GyRCP007dkl0GyhC?= <HR@Acme.Example>\r\n"+
		"To: =?ISO-2022-JP?B?GyRCOzNFRCEhQkBPOhsoQg==?= <Taro@Cand.example>,\r\n"+
		" =?UTF-8?B?6Iqx5a2Q?= <hanako@cand.example>\r\n"+
		"Cc: =?x-unknown?B?AAAA?= <cc@cand.example>\r\n")
	names := displayNames(h)
	if names["taro@cand.example"] != "山田　太郎" || names["hanako@cand.example"] != "花子" {
		t.Errorf("names %q", names)
	}
	if d := fromDomain(h); d != "acme.example" {
		t.Errorf("fromDomain = %q, want acme.example", d)
	}
	h = parseHeader(t, "From: =?x-unknown?B?AAAA?= <hr@acme.example>\r\n")
	if d := fromDomain(h); d != "acme.example" {
		t.Errorf("fromDomain with an unknown charset = %q, want acme.example", d)
	}
}
