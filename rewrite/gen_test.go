package rewrite

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// The golden inputs testdata/NN-name.eml are made here, from Unicode text
// encoded with golang.org/x/text and, where its encoders cannot (U+301C
// WAVE DASH, CP932's own code of 髙), with the raw bytes a Japanese mailer
// writes. Run `go test -run TestGenerateInputs -gen ./rewrite/` to rewrite
// them, then `go test -run TestGolden -update ./rewrite/` for the .want
// files, and review both.
var genInputs = flag.Bool("gen", false, "rewrite testdata/*.eml from gen_test.go")

const (
	// Raw bytes for characters x/text cannot encode.
	isoWaveDash  = "\x1b$B!A\x1b(B" // 〜 as Japanese mailers write it (JIS 0x2141)
	sjisWaveDash = "\x81\x60"       // 〜 in Shift_JIS
	cp932Taka    = "\xfb\xfc"       // 髙 at its CP932 (IBM extension) code
)

func encodeWith(e encoding.Encoding, s string) string {
	b, err := e.NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

func iso(s string) string  { return encodeWith(japanese.ISO2022JP, crlf(s)) }
func sjis(s string) string { return encodeWith(japanese.ShiftJIS, crlf(s)) }
func euc(s string) string  { return encodeWith(japanese.EUCJP, crlf(s)) }

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func qpEncode(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func base64Lines(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\r\n")
		e = e[76:]
	}
	return b.String() + e
}

// hdr makes a header block from lines, ending with the blank line.
func hdr(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

func subj(charset, s string) string {
	return "Subject: " + mime.BEncoding.Encode(charset, s)
}

const top = "From: =?UTF-8?B?5qCq5byP5Lya56S+44Ki44Kv44Oh?= <saiyo@acme.example>\r\n" +
	"To: candidate@example.net\r\nDate: Tue, 24 Nov 2026 10:00:00 +0900\r\n" +
	"Message-ID: <20261124100000.1@acme.example>\r\nMIME-Version: 1.0"

const jaBody = `山田 太郎 様

この度は弊社の求人にご応募いただき、誠にありがとうございました。
慎重に選考を重ねました結果、誠に残念ながら今回はご期待に添えない結果となりました。

今後のキャリアについて、提携エージェントによる無料のキャリア相談をご用意しております。
ご興味があれば下記よりお申し込みください。
[[career-relay]]

末筆ながら、今後のご活躍を心よりお祈り申し上げます。
`

const jaSig = "\n㈱アクメ 人事部 採用担当 髙橋①\n"

const htmlBody = `<html><head><meta charset="utf-8"><title>選考結果のご連絡</title></head>
<body><p>山田 太郎 様</p>
<p>この度は弊社の求人にご応募いただき、誠にありがとうございました。慎重に選考を重ねました結果、誠に残念ながら今回はご期待に添えない結果となりました。</p>
<p>無料のキャリア相談はこちら: [[career-relay]]</p>
<p><a href="[[career-relay]]">キャリア相談に申し込む</a></p>
</body></html>
`

var genCases = map[string]func() string{
	"01-plain-ascii-7bit": func() string {
		return hdr(top, "Subject: Your application", "Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit") +
			crlf("Dear applicant,\n\nThank you for applying. Free career advice from our partner:\n[[career-relay]]\n\nBest regards,\nACME Recruiting\n")
	},
	"02-plain-utf8-8bit": func() string {
		return hdr(top, subj("UTF-8", "選考結果のご連絡 [[career-relay]]"), "Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: 8bit") +
			crlf(jaBody+jaSig)
	},
	"03-plain-utf8-qp-split": func() string {
		// The tag split by soft line breaks, once inside an =XX run.
		return hdr(top, subj("UTF-8", "選考結果のご連絡"), "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable") +
			"=E5=B1=B1=E7=94=B0 =E6=A7=98\r\n\r\n" +
			"=E3=81=94=E8=88=88=E5=91=B3=E3=81=8C=E3=81=82=E3=82=8C=E3=81=B0: [[car=\r\neer-relay]]\r\n" +
			"=E3=82=82=E3=81=86=E4=B8=80=E5=BA=A6: =5B=5Bcareer-rel=\r\nay=5D=5D trailing space=20\r\n" +
			"=E4=BB=A5=E4=B8=8A=\r\n"
	},
	"04-plain-utf8-base64": func() string {
		return hdr(top, subj("UTF-8", "選考結果のご連絡"), "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64") +
			base64Lines(crlf(jaBody+jaSig)) + "\r\n"
	},
	"05-plain-iso2022jp-7bit": func() string {
		return hdr(top, subj("ISO-2022-JP", "選考結果のご連絡"), "Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit") +
			iso(jaBody) + iso("受付期間：1月") + isoWaveDash + iso("3月 ①②㈱髙﨑\n") + iso(jaSig)
	},
	"06-plain-iso2022jp-base64": func() string {
		return hdr(top, subj("ISO-2022-JP", "選考結果"), "Content-Type: text/plain; charset=\"iso-2022-jp\"", "Content-Transfer-Encoding: base64") +
			base64Lines(iso(jaBody)+isoWaveDash+iso(jaSig)) + "\r\n"
	},
	"07-plain-iso2022jp-qp": func() string {
		body := qpEncode(iso("ご興味があれば下記よりお申し込みください。\n"))
		return hdr(top, subj("ISO-2022-JP", "選考結果"), "Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: quoted-printable") +
			body + "=1B$B$3$A$i=1B(B: [[career-re=\r\nlay]] =1B$B!A=1B(B\r\n" + qpEncode(iso(jaSig))
	},
	"08-plain-sjis-8bit": func() string {
		// ゼ (0x83 0x5B) and ソ (0x83 0x5C) have ASCII trail bytes; the tag
		// follows ゼ directly.
		return hdr(top, subj("Shift_JIS", "選考結果"), "Content-Type: text/plain; charset=Shift_JIS", "Content-Transfer-Encoding: 8bit") +
			sjis("ゼミ・ソフトウェア表現\nキャリア相談ゼ[[career-relay]]\n期間：1月") + sjisWaveDash + sjis("3月 ①") + cp932Taka + sjis("橋\n")
	},
	"09-plain-cp932-qp": func() string {
		return hdr(top, subj("Shift_JIS", "選考結果"), "Content-Type: text/plain; charset=windows-31j", "Content-Transfer-Encoding: quoted-printable") +
			qpEncode(sjis(jaBody+jaSig))
	},
	"10-plain-eucjp-8bit": func() string {
		return hdr(top, subj("EUC-JP", "選考結果"), "Content-Type: text/plain; charset=EUC-JP", "Content-Transfer-Encoding: 8bit") +
			euc(jaBody+"ｶﾀｶﾅ ①\n")
	},
	"11-flowed-delsp-split": func() string {
		return hdr(top, "Subject: Re: application", "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes", "Content-Transfer-Encoding: 8bit") +
			crlf("Thanks.\n\n> Our partner offers free career advice, see [[career- \n> relay]] for details, or \n> ask us.\n-- \nACME\n")
	},
	"12-flowed-delsp-no": func() string {
		return hdr(top, "Subject: application", "Content-Type: text/plain; charset=utf-8; format=flowed", "Content-Transfer-Encoding: 7bit") +
			crlf("Free career advice from our partner is one click away: \n[[career-relay]] \nand costs you nothing.\n \n>From the team\n-- \nACME [[career-relay]]\n")
	},
	"13-html-utf8-qp": func() string {
		return hdr(top, subj("UTF-8", "選考結果のご連絡"), "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable") +
			qpEncode(crlf(htmlBody))
	},
	"14-html-entities": func() string {
		return hdr(top, "Subject: result", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit") + crlf(
			`<p>&#91;&#91;career-relay&#93;&#93;</p>
<p>&#x5B;&#X5b;career-relay&#x5D;&#x005d;</p>
<p>&lsqb;&lbrack;career&#45;relay&rsqb;&rbrack;</p>
<p><a href="&#91;&#91;career-relay&#93;&#93;">here</a> and &#91[career-relay]]</p>
<p>not a tag: &amp;#91;&#91;career-relay]] &#x5Bcareer-relay]]</p>
`)
	},
	"15-html-percent": func() string {
		return hdr(top, "Subject: result", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 7bit") + crlf(
			`<p><a href="%5B%5Bcareer-relay%5D%5D">upper</a></p>
<p><a href='%5b%5bcareer-relay%5d%5d'>lower</a></p>
<p><a href=%5B[career%2Drelay]%5d>unquoted, mixed</a></p>
<p>Text: %5B%5Bcareer-relay%5D%5D</p>
`)
	},
	"16-html-existing-anchor": func() string {
		return hdr(top, "Subject: result", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 7bit") + crlf(
			`<p><a href="[[career-relay]]">[[career-relay]]</a></p>
<p><A HREF="[[career-relay]]" target="_blank"><b>[[career-relay]]</b></A> then [[career-relay]]</p>
`)
	},
	"17-alternative-iso2022jp": func() string {
		html := strings.ReplaceAll(htmlBody, `charset="utf-8"`, `charset="iso-2022-jp"`)
		return hdr(top, subj("ISO-2022-JP", "選考結果のご連絡"), `Content-Type: multipart/alternative; boundary="alt-1"`) +
			"--alt-1\r\n" + hdr("Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit") + iso(jaBody+jaSig) +
			"\r\n--alt-1\r\n" + hdr("Content-Type: text/html; charset=ISO-2022-JP", "Content-Transfer-Encoding: quoted-printable") + qpEncode(iso(html)) +
			"\r\n--alt-1--\r\n"
	},
	"18-mixed-attachments": func() string {
		return hdr(top, "Subject: result", `Content-Type: multipart/mixed; boundary="mix"`) +
			"--mix\r\n" + hdr("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit") + crlf(jaBody) +
			"\r\n--mix\r\n" + hdr("Content-Type: text/plain; charset=utf-8; name=\"template.txt\"", "Content-Disposition: attachment; filename=\"template.txt\"") + crlf("The template: [[career-relay]]\n") +
			"\r\n--mix\r\n" + hdr("Content-Type: application/pdf; name=\"guide.pdf\"", "Content-Disposition: attachment; filename=\"guide.pdf\"", "Content-Transfer-Encoding: base64") + base64Lines("%PDF-1.4 [[career-relay]] fake pdf\n") +
			"\r\n--mix--\r\n"
	},
	"19-related-inline-image": func() string {
		return hdr(top, "Subject: result", `Content-Type: multipart/alternative; boundary="a"`) +
			"--a\r\n" + hdr("Content-Type: text/plain; charset=utf-8") + crlf("Advice: [[career-relay]]\n") +
			"\r\n--a\r\n" + hdr(`Content-Type: multipart/related; boundary="r"; type="text/html"`) +
			"--r\r\n" + hdr("Content-Type: text/html; charset=utf-8") + crlf(`<p><img src="cid:logo@acme"> Advice: [[career-relay]]</p>`+"\n") +
			"\r\n--r\r\n" + hdr("Content-Type: image/png", "Content-ID: <logo@acme>", "Content-Disposition: inline", "Content-Transfer-Encoding: base64") + base64Lines("\x89PNG\r\n\x1a\n[[career-relay]]") +
			"\r\n--r--\r\n" + "\r\n--a--\r\n"
	},
	"20-nested-mixed-alternative-related": func() string {
		inner := hdr(`Content-Type: multipart/related; boundary="=_rel"`) +
			"--=_rel\r\n" + hdr("Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable") + qpEncode(crlf(htmlBody)) +
			"\r\n--=_rel\r\n" + hdr("Content-Type: image/gif", "Content-ID: <x>", "Content-Transfer-Encoding: base64") + "R0lGODlhAQABAAAAACw=" +
			"\r\n--=_rel--"
		alt := hdr(`Content-Type: multipart/alternative; boundary="=_alt"`) +
			"--=_alt\r\n" + hdr("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64") + base64Lines(crlf(jaBody)) +
			"\r\n--=_alt\r\n" + inner +
			"\r\n--=_alt--\r\n"
		return hdr(top, "Subject: result", `Content-Type: multipart/mixed; boundary="=_mix"`) +
			"This is a multi-part message in MIME format.\r\n\r\n--=_mix\r\n" + alt +
			"\r\n--=_mix\r\n" + hdr("Content-Type: text/csv; name=a.csv", "Content-Disposition: attachment; filename=a.csv") + "tag,[[career-relay]]" +
			"\r\n--=_mix--\r\n"
	},
	"21-rfc822-attached": func() string {
		return hdr(top, "Subject: Fwd: result", `Content-Type: multipart/mixed; boundary="m"`) +
			"--m\r\n" + hdr("Content-Type: text/plain; charset=utf-8") + crlf("See the attached original; advice: [[career-relay]]\n") +
			"\r\n--m\r\n" + hdr("Content-Type: message/rfc822", "Content-Disposition: attachment") +
			hdr("From: hr@acme.example", "Subject: original", "Content-Type: text/plain") + crlf("Original with [[career-relay]] inside.\n") +
			"\r\n--m--\r\n"
	},
	"22-untagged-subject-only": func() string {
		return hdr(top, "Subject: [[career-relay]] in the subject only", "X-Template: [[career-relay]]", "Content-Type: text/plain; charset=utf-8") +
			crlf("No tag in this body.\n")
	},
	"23-preamble-epilogue": func() string {
		return hdr(top, "Subject: result", `Content-Type: multipart/mixed; boundary=b`) +
			"Preamble with [[career-relay]].\r\n--b\r\n" + hdr("Content-Type: text/plain") + crlf("Body [[career-relay]]\n") +
			"\r\n--b--\r\nEpilogue with [[career-relay]].\r\n"
	},
	"24-long-line-plain-8bit": func() string {
		line := strings.Repeat("あ", 300) + " [[career-relay]] " + strings.Repeat("い", 20)
		return hdr(top, "Subject: long", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit") + crlf("Start\n"+line+"\nEnd\n")
	},
	"25-long-line-html-7bit": func() string {
		pad := strings.Repeat("x", 800)
		return hdr(top, "Subject: long", "Content-Type: text/html; charset=us-ascii", "Content-Transfer-Encoding: 7bit") +
			crlf(`<html><body><p class="`+pad[:20]+`">`+pad+` [[career-relay]] and <a title="t" href="[[career-relay]]">here</a> end</p></body></html>`+"\n")
	},
	"26-qp-link-wrap": func() string {
		return hdr(top, "Subject: wrap", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable") +
			"Our partner offers free career advice to every applicant, here: [[career-=\r\nrelay]] and again in a second place [[career-relay]] that ends t=\r\nhe line.\r\n"
	},
	"27-iso2022jp-roman": func() string {
		return hdr(top, "Subject: roman", "Content-Type: text/plain; charset=iso-2022-jp", "Content-Transfer-Encoding: 7bit") +
			iso("相談：") + "\x1b(J[[career-relay]] \\100\x1b(B\r\n" + iso("次") + "\x1b(J[[career\x1b(B-relay]]\r\n"
	},
	"28-multiple-tags": func() string {
		return hdr(top, "Subject: many", `Content-Type: multipart/alternative; boundary=b`) +
			"--b\r\n" + hdr("Content-Type: text/plain; charset=utf-8") + crlf("[[career-relay]][[career-relay]]\n[[[career-relay]]]\n[[career-relay]\n") +
			"\r\n--b\r\n" + hdr("Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable") +
			qpEncode(crlf("<p>[[career-relay]] [[career-relay]]<a href=\"[[career-relay]]?utm=x\">[[career-relay]]</a></p>\n")) +
			"\r\n--b--\r\n"
	},
	"29-html-contexts": func() string {
		return hdr(top, "Subject: contexts", "Content-Type: text/html; charset=utf-8") + crlf(
			`<html><head><title>[[career-relay]]</title><style>a{background:url([[career-relay]])}</style>
<script>var u = "[[career-relay]]";</script></head><body>
<!-- [[career-relay]] -->
<!--[if mso]><v:roundrect href="[[career-relay]]">Apply</v:roundrect><![endif]-->
<textarea>[[career-relay]]</textarea>
<p data-x=[[career-relay]]>text [[career-relay]]</p>
</body></html>
`)
	},
	"30-no-mime": func() string {
		return "From: hr@acme.example\r\nTo: c@example.net\r\nSubject: result\r\n\r\nDear applicant,\r\nadvice: [[career-relay]]\r\n"
	},
	"31-sjis-trail-trap": func() string {
		// "ゼ[career-relay]]": the raw bytes hold "[[career-relay]]" from ゼ's
		// trail byte on, the text does not hold the tag.
		return hdr(top, "Subject: trap", "Content-Type: text/plain; charset=shift_jis", "Content-Transfer-Encoding: 8bit") +
			sjis("ゼ[career-relay]]\n")
	},
	"32-multipart-signed": func() string {
		return hdr(top, "Subject: signed", `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s"`) +
			"--s\r\n" + hdr("Content-Type: text/plain; charset=utf-8") + crlf("Signed [[career-relay]]\n") +
			"\r\n--s\r\n" + hdr("Content-Type: application/pkcs7-signature; name=smime.p7s", "Content-Transfer-Encoding: base64") + base64Lines("not a real signature") +
			"\r\n--s--\r\n"
	},
	"33-unknown-charset": func() string {
		return hdr(top, "Subject: unknown", "Content-Type: text/plain; charset=x-unknown-8bit") + crlf("Unknown [[career-relay]]\n")
	},
	"34-html-sjis-base64": func() string {
		html := strings.ReplaceAll(htmlBody, `charset="utf-8"`, `charset="shift_jis"`)
		return hdr(top, subj("Shift_JIS", "選考結果"), "Content-Type: text/html; charset=Shift_JIS", "Content-Transfer-Encoding: base64") +
			base64Lines(sjis("ゼ"+html)) + "\r\n"
	},
	"35-inline-text-with-filename": func() string {
		return hdr(top, "Subject: inline", `Content-Type: multipart/mixed; boundary=b`) +
			"--b\r\n" + hdr("Content-Type: text/plain; charset=utf-8; name=note.txt", "Content-Disposition: inline; filename=note.txt") + crlf("Inline [[career-relay]]\n") +
			"\r\n--b\r\n" + hdr("Content-Type: text/plain; charset=utf-8", "Content-Disposition: ATTACHMENT") + crlf("Attached [[career-relay]]\n") +
			"\r\n--b--\r\n"
	},
	"36-lf-only": func() string {
		return "Subject: lf\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nA [[career-relay]]\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<p>[[career-=\nrelay]]</p>\n--b--\n"
	},
	"37-unlabelled-iso2022jp": func() string {
		return "From: hr@acme.example\r\nSubject: old mailer\r\nContent-Type: text/plain\r\n\r\n" + iso(jaBody)
	},
	"38-iso2022jp-html-7bit-long": func() string {
		line := strings.Repeat("結果", 190) + `[[career-relay]]` + strings.Repeat("相談", 30) + `<a href="[[career-relay]]">申込</a>`
		return hdr(top, "Subject: long", "Content-Type: text/html; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit") + iso("<p>"+line+"</p>\n")
	},
	"39-flowed-long-line": func() string {
		line := "> " + strings.Repeat("word ", 185) + "[[career-relay]]" + strings.Repeat(" more", 10)
		return hdr(top, "Subject: long flowed", "Content-Type: text/plain; charset=us-ascii; format=flowed", "Content-Transfer-Encoding: 7bit") + crlf(line+"\n")
	},
	"40-word-html-utf8-qp": func() string {
		return wordMail("utf-8", "quoted-printable", func(s string) string { return qpEncode(crlf(s)) })
	},
	"41-word-html-iso2022jp-base64": func() string {
		return wordMail("ISO-2022-JP", "base64", func(s string) string { return base64Lines(iso(s)) })
	},
	"42-word-html-sjis-qp": func() string {
		return wordMail("Shift_JIS", "quoted-printable", func(s string) string { return qpEncode(sjis(s)) })
	},
}

// wordMail is a rejection as Outlook writes it from a Word template: a
// plain part, and an HTML part with the tag split in every shape of
// splitShapes (each becomes one link) and across every barrier (each stays).
func wordMail(charset, cte string, encode func(string) string) string {
	var b strings.Builder
	b.WriteString(`<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word"><head>` + "\n")
	b.WriteString(`<meta http-equiv=Content-Type content="text/html; charset=` + charset + `"><style><!-- p.MsoNormal {margin:0mm;} --></style></head>` + "\n")
	b.WriteString(`<body lang=JA link="#0563C1"><div class=WordSection1>` + "\n")
	b.WriteString(`<p class=MsoNormal>山田 太郎 様<o:p></o:p></p>` + "\n")
	for _, sh := range splitShapes {
		b.WriteString(`<p class=MsoNormal>キャリア相談（` + sh.name + `）：` + sh.html + `<o:p></o:p></p>` + "\n")
	}
	b.WriteString(`<p class=MsoNormal>改行をまたぐ場合：[[career-<br>relay]]</p>` + "\n")
	b.WriteString(`<p class=MsoNormal title="[[career-relay]]">段落をまたぐ場合：[[career-</p><p class=MsoNormal>relay]]</p>` + "\n")
	b.WriteString(`</div></body></html>` + "\n")
	return hdr(top, subj("UTF-8", "選考結果のご連絡"), `Content-Type: multipart/alternative; boundary="----=_NextPart_000_0001"`) +
		"------=_NextPart_000_0001\r\n" + hdr("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit") +
		crlf("キャリア相談はこちら：[[career-relay]]\n") +
		"\r\n------=_NextPart_000_0001\r\n" + hdr("Content-Type: text/html; charset=\""+charset+"\"", "Content-Transfer-Encoding: "+cte) +
		encode(b.String()) + "\r\n------=_NextPart_000_0001--\r\n"
}

// fuzzRegressions are inputs that once failed FuzzRewrite (or made it
// slow), kept in its corpus under testdata/fuzz.
var fuzzRegressions = map[string]string{
	// A line broken inside the anchor written for the text tag: the break
	// went between "<a" and " href", which the check did not expect.
	"anchor-break": "Content-Type: text/html\r\n\r\n<p>" + strings.Repeat("x", 900) + " [[career-relay]] y</p>\r\n",
	// Many links on one long line: line grouping and breaking were
	// quadratic.
	"many-on-one-line": "\r\n" + strings.Repeat("[[career-relay]]", 3000),
	"many-on-one-html": "Content-Type: text/html\r\n\r\n" + strings.Repeat("[[career-relay]]<a href=[[career-relay]]>", 1000),
	// Flowed: the quote prefix was looked up from the line start for each
	// link.
	"many-on-one-flowed": "Content-Type: text/plain; format=flowed\r\n\r\n> " + strings.Repeat("[[career-relay]] ", 3000),
	// ISO-2022-JP with redundant designations inside the tag and before a
	// quote mark, on a long flowed line.
	"iso-redundant-flowed": "Content-Type: text/plain; charset=iso-2022-jp; format=flowed; delsp=yes\r\n\r\n\x1b(B> " +
		strings.Repeat("\x1b$B$3\x1b(B ", 108) + "[[car\x1b(Jeer- \r\n\x1b(B> relay]]\x1b(B end\r\n",
}

func TestGenerateInputs(t *testing.T) {
	if !*genInputs {
		t.Skip("run with -gen to rewrite the golden inputs")
	}
	for name, f := range genCases {
		if err := os.WriteFile(filepath.Join("testdata", name+".eml"), []byte(f()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRewrite")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, msg := range fuzzRegressions {
		entry := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", msg)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(entry), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
