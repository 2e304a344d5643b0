package rewrite

import (
	"strings"
	"testing"
)

// rejection10KB is a 10 KB ISO-2022-JP rejection mail: text/plain in 7bit
// and text/html in quoted-printable, each with the tag.
func rejection10KB() []byte {
	para := strings.Repeat("慎重に選考を重ねました結果、誠に残念ながら今回はご期待に添えない結果となりました。\n", 48)
	html := "<html><body><p>" + strings.ReplaceAll(para, "\n", "<br>\n") + "</p><p><a href=\"[[career-relay]]\">キャリア相談</a></p></body></html>\n"
	msg := hdr(top, subj("ISO-2022-JP", "選考結果のご連絡"), `Content-Type: multipart/alternative; boundary="alt-1"`) +
		"--alt-1\r\n" + hdr("Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit") + iso(jaBody+para+jaSig) +
		"\r\n--alt-1\r\n" + hdr("Content-Type: text/html; charset=ISO-2022-JP", "Content-Transfer-Encoding: quoted-printable") + qpEncode(iso(html)) +
		"\r\n--alt-1--\r\n"
	return []byte(msg)
}

// attachment1MB is a mail with a small tagged text part and a 1 MB base64
// attachment.
func attachment1MB() []byte {
	pdf := strings.Repeat("%PDF-1.4 binary data \x00\x01\x02\xff", 1<<20/32)
	msg := hdr(top, "Subject: result", `Content-Type: multipart/mixed; boundary="mix"`) +
		"--mix\r\n" + hdr("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit") + crlf(jaBody) +
		"\r\n--mix\r\n" + hdr("Content-Type: application/pdf; name=\"guide.pdf\"", "Content-Disposition: attachment; filename=\"guide.pdf\"", "Content-Transfer-Encoding: base64") + base64Lines(pdf) +
		"\r\n--mix--\r\n"
	return []byte(msg)
}

// wordHTML10KB is a 10 KB rejection as Outlook sends a Word template: a
// UTF-8 quoted-printable HTML part of Word's markup (MsoNormal paragraphs,
// spans, o:p) whose tag Word split with a SpellE span.
func wordHTML10KB() []byte {
	var h strings.Builder
	h.WriteString(`<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><style><!-- p.MsoNormal {margin:0mm;font-size:10.5pt;} --></style></head><body lang=JA><div class=WordSection1>` + "\n")
	for h.Len() < 3600 {
		h.WriteString(`<p class=MsoNormal><span style='font-family:"ＭＳ ゴシック"'>慎重に選考を重ねました結果、誠に残念ながら今回はご期待に添えない結果となりました。<o:p></o:p></span></p>` + "\n")
	}
	h.WriteString(`<p class=MsoNormal><span lang=EN-US>[[<span class=SpellE>career-relay</span>]]</span><o:p></o:p></p></div></body></html>` + "\n")
	return []byte(hdr(top, subj("UTF-8", "選考結果のご連絡"), "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable") +
		qpEncode(crlf(h.String())))
}

func benchRewrite(b *testing.B, msg []byte) {
	b.Run("PrepareRender", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			tm, err := Prepare(msg, testTag)
			if err != nil || !tm.Tagged() {
				b.Fatal(err)
			}
			if _, err := tm.Render(testLink); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Render", func(b *testing.B) {
		tm, err := Prepare(msg, testTag)
		if err != nil || !tm.Tagged() {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tm.Render(testLink); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendRender", func(b *testing.B) {
		tm, _ := Prepare(msg, testTag)
		buf := make([]byte, 0, 2*len(msg))
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tm.AppendRender(buf[:0], testLink); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRewriteISO2022JP10KB(b *testing.B) {
	msg := rejection10KB()
	if len(msg) < 9<<10 || len(msg) > 12<<10 {
		b.Fatalf("message of %d bytes", len(msg))
	}
	benchRewrite(b, msg)
}

func BenchmarkRewrite1MBAttachment(b *testing.B) {
	benchRewrite(b, attachment1MB())
}

func TestBenchMessagesAreFaithful(t *testing.T) {
	for _, msg := range [][]byte{rejection10KB(), attachment1MB()} {
		tm, err := Prepare(msg, testTag)
		if err != nil || tm.Count() < 1 {
			t.Fatalf("%v, %d tags", err, tm.Count())
		}
		out, _ := tm.Render(testLink)
		if err := CheckFidelity(msg, out, testTag, testLink); err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkWordHTML10KB: Prepare+Render of a Word-made HTML mail with a
// split tag (target: under 150 µs).
func BenchmarkWordHTML10KB(b *testing.B) { benchRewrite(b, wordHTML10KB()) }
