package ingress

import "testing"

// The From lookup reads a field folded over lines with an encoded display
// name, ignores a From in the body, and matches names in ASCII only (as
// go-message, and so the pipeline, reads them): "From<NBSP>" is no From.
func TestSingleFromAsThePipelineReadsIt(t *testing.T) {
	for _, c := range []struct {
		name, msg, want string
	}{
		{"folded, encoded name", "Subject: hi\r\nFrom: =?UTF-8?B?5Lq65LqL6YOo?=\r\n <HR@Acme.Example>\r\nTo: a@b.example\r\n\r\nFrom: body@evil.example\r\n", "HR@Acme.Example"},
		{"unknown charset", "From: =?x-unknown?B?5Lq6?= <hr@acme.example>\r\n\r\n", "hr@acme.example"},
		{"From<NBSP> is another field", "From\u00a0: a@other.example\r\nFrom: b@acme.example\r\n\r\n", "b@acme.example"},
		{"no body", "From: hr@acme.example\r\n", "hr@acme.example"},
	} {
		hdr := []byte(c.msg)[:headerLen([]byte(c.msg))]
		got, r := singleFrom(hdr, fields(hdr))
		if r != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, r, c.want)
		}
	}
	for _, msg := range []string{"To: x@y\r\n\r\n", "Fro\u017f: a@acme.example\r\n\r\n"} {
		hdr := []byte(msg)[:headerLen([]byte(msg))]
		if got, r := singleFrom(hdr, fields(hdr)); r == nil {
			t.Errorf("%q: From %q, want a refusal", msg, got)
		}
	}
}
