package demo

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"golang.org/x/text/encoding/japanese"
)

// person is a candidate (or the HR archive) the sample mails go to.
type person struct {
	name, addr string
}

// candidates are the twelve addresses of the tour: the first ten receive a
// rejection mail with the tag and consent, the last two get untagged mail.
var candidates = []person{
	{"山田 太郎", "yamada.taro@example.com"},
	{"佐藤 花子", "sato.hanako@example.net"},
	{"鈴木 一郎", "suzuki.ichiro@example.org"},
	{"高橋 美咲", "takahashi.misaki@example.com"},
	{"田中 健太", "tanaka.kenta@example.net"},
	{"伊藤 さくら", "ito.sakura@example.org"},
	{"渡辺 翔", "watanabe.sho@example.com"},
	{"中村 結衣", "nakamura.yui@example.net"},
	{"小林 大輔", "kobayashi.daisuke@example.org"},
	{"加藤 愛", "kato.ai@example.com"},
	{"吉田 拓也", "yoshida.takuya@example.net"},
	{"山本 七海", "yamamoto.nanami@example.org"},
}

// hrArchive is the HR archive Bcc inside the tenant's domain: its copy
// gets the tenant's generic link, which never counts.
const hrArchive = "saiyo-archive@" + tenantDomain

const sender = "saiyo@" + tenantDomain

// sample is one mail the demo's ATS sends.
type sample struct {
	kind   string // shown in the list
	to     person
	bcc    []string // more envelope recipients
	tagged bool
	data   []byte
}

func (s *sample) rcpts() []string { return append([]string{s.to.addr}, s.bcc...) }

// rejection is the rejection template (お祈りメール) as an ATS fills it in.
func rejection(name string) string {
	return name + ` 様

このたびは` + tenantName + `の採用選考にご応募いただき、誠にありがとうございました。
慎重に選考を重ねました結果、誠に残念ながら、今回はご期待に沿いかねる結果となりました。
ご応募いただいた書類は、弊社にて責任をもって破棄いたします。

なお、弊社では選考にご応募くださった皆さまへ、提携する人材紹介会社による
無料のキャリア相談をご案内しております。よろしければご覧ください。
` + tag + `

末筆ながら、` + name + ` 様の今後のご活躍を心よりお祈り申し上げます。

` + tenantName + ` 人事部 採用担当
`
}

func rejectionHTML(name string, tagAsText bool) string {
	link := `<a href="` + tag + `">無料キャリア相談のご案内</a>`
	if tagAsText {
		link = tag
	}
	return `<!DOCTYPE html>
<html lang="ja"><head><meta charset="UTF-8"><title>選考結果のご連絡</title></head>
<body>
<p>` + name + ` 様</p>
<p>このたびは` + tenantName + `の採用選考にご応募いただき、誠にありがとうございました。<br>
慎重に選考を重ねました結果、誠に残念ながら、今回はご期待に沿いかねる結果となりました。</p>
<p>弊社では選考にご応募くださった皆さまへ、提携する人材紹介会社による無料のキャリア相談をご案内しております。<br>
` + link + `</p>
<p>末筆ながら、` + name + ` 様の今後のご活躍を心よりお祈り申し上げます。</p>
<p>` + tenantName + ` 人事部 採用担当</p>
</body></html>
`
}

func interview(name string) string {
	return name + ` 様

このたびは` + tenantName + `の採用選考にご応募いただき、誠にありがとうございます。
書類選考の結果、ぜひ面接にお越しいただきたく、ご連絡いたしました。
候補日を三つお送りしますので、ご都合のよい日時をご返信ください。

` + tenantName + ` 人事部 採用担当
`
}

func offer(name string) string {
	return name + ` 様

このたびは` + tenantName + `の採用選考にご参加いただき、誠にありがとうございました。
厳正なる選考の結果、` + name + ` 様を採用させていただくことに決定いたしました。
詳細は追ってご連絡いたします。

` + tenantName + ` 人事部 採用担当
`
}

// samples builds the twelve mails: ISO-2022-JP text/plain as most ATSs
// send, UTF-8 multipart/alternative HTML, one with a PDF attachment, one
// with an HR archive Bcc, and two untagged ones that pass untouched.
func samples(now time.Time) ([]*sample, error) {
	b := &builder{now: now.In(jst)}
	c := candidates
	list := []*sample{
		{kind: "ISO-2022-JP text/plain", to: c[0], tagged: true},
		{kind: "ISO-2022-JP text/plain", to: c[1], tagged: true},
		{kind: "ISO-2022-JP text/plain", to: c[2], tagged: true},
		{kind: "UTF-8 text/plain, quoted-printable", to: c[3], tagged: true},
		{kind: "UTF-8 HTML, multipart/alternative", to: c[4], tagged: true},
		{kind: "UTF-8 HTML, multipart/alternative", to: c[5], tagged: true},
		{kind: "UTF-8 HTML, multipart/alternative, base64", to: c[6], tagged: true},
		{kind: "ISO-2022-JP text + PDF attachment", to: c[7], tagged: true},
		{kind: "ISO-2022-JP text, Bcc HR archive", to: c[8], bcc: []string{hrArchive}, tagged: true},
		{kind: "UTF-8 HTML, tag as page text", to: c[9], tagged: true},
		{kind: "untagged: interview invitation", to: c[10]},
		{kind: "untagged: offer", to: c[11]},
	}
	const subject = "選考結果のご連絡"
	for i, s := range list {
		name := s.to.name
		switch i {
		case 0, 1, 2, 8:
			s.data = b.jisText(s.to, subject, rejection(name))
		case 3:
			s.data = b.single(s.to, b.utf8Subject(subject), "text/plain; charset=UTF-8", "quoted-printable", qp(rejection(name)))
		case 4, 5:
			s.data = b.alternative(s.to, subject, rejection(name), rejectionHTML(name, false), "quoted-printable")
		case 6:
			s.data = b.alternative(s.to, subject, rejection(name), rejectionHTML(name, false), "base64")
		case 7:
			s.data = b.withAttachment(s.to, subject, rejection(name))
		case 9:
			s.data = b.single(s.to, b.utf8Subject(subject), "text/html; charset=UTF-8", "quoted-printable", qp(rejectionHTML(name, true)))
		case 10:
			s.data = b.jisText(s.to, "二次面接のご案内", interview(name))
		case 11:
			s.data = b.single(s.to, b.utf8Subject("内定のご連絡"), "text/plain; charset=UTF-8", "base64", b64(offer(name)))
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	return list, nil
}

// jst is the ATS's time zone, for the Date fields.
var jst = time.FixedZone("JST", 9*60*60)

// builder writes mails with CRLF line ends; the first error sticks.
type builder struct {
	now time.Time
	n   int
	err error
}

func (b *builder) jis(s string) string {
	out, err := japanese.ISO2022JP.NewEncoder().String(s)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("demo: ISO-2022-JP: %w", err)
	}
	return out
}

func (b *builder) jisSubject(s string) string {
	return "=?ISO-2022-JP?B?" + base64.StdEncoding.EncodeToString([]byte(b.jis(s))) + "?="
}

func (b *builder) utf8Subject(s string) string { return mime.BEncoding.Encode("UTF-8", s) }

// header is the ATS's header block, without Content-* fields.
func (b *builder) header(to person, subject string) string {
	b.n++
	id := make([]byte, 6)
	rand.Read(id)
	from := mime.BEncoding.Encode("UTF-8", tenantName+" 採用担当")
	h := "From: " + from + " <" + sender + ">\n" +
		"To: " + mime.BEncoding.Encode("UTF-8", to.name) + " <" + to.addr + ">\n" +
		"Subject: " + subject + "\n" +
		"Date: " + b.now.Add(time.Duration(b.n)*time.Second).Format(time.RFC1123Z) + "\n" +
		fmt.Sprintf("Message-ID: <demo-%02d.%s@ats.%s>\n", b.n, hex.EncodeToString(id), tenantDomain) +
		"X-Mailer: DemoATS 3.2\n" +
		"MIME-Version: 1.0\n"
	return h
}

func (b *builder) jisText(to person, subject, body string) []byte {
	return b.single(to, b.jisSubject(subject), "text/plain; charset=ISO-2022-JP", "7bit", b.jis(body))
}

func (b *builder) single(to person, subject, ctype, cte, body string) []byte {
	return []byte(crlf(b.header(to, subject) + "Content-Type: " + ctype + "\nContent-Transfer-Encoding: " + cte + "\n\n" + body))
}

func (b *builder) alternative(to person, subject, text, html, cte string) []byte {
	enc := qp
	if cte == "base64" {
		enc = b64
	}
	bd := boundary("alt")
	return []byte(crlf(b.header(to, b.utf8Subject(subject)) +
		"Content-Type: multipart/alternative; boundary=\"" + bd + "\"\n\n" +
		"--" + bd + "\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: " + cte + "\n\n" + enc(text) +
		"--" + bd + "\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: " + cte + "\n\n" + enc(html) +
		"--" + bd + "--\n"))
}

func (b *builder) withAttachment(to person, subject, text string) []byte {
	bd := boundary("mixed")
	pdf := "%PDF-1.4\n% careerrelay demo: a stand-in for the ATS's notice\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
	fileName := mime.BEncoding.Encode("UTF-8", "選考結果通知書.pdf")
	return []byte(crlf(b.header(to, b.jisSubject(subject)) +
		"Content-Type: multipart/mixed; boundary=\"" + bd + "\"\n\n" +
		"--" + bd + "\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n" + b.jis(text) +
		"--" + bd + "\nContent-Type: application/pdf; name=\"" + fileName + "\"\nContent-Disposition: attachment; filename=\"" +
		fileName + "\"\nContent-Transfer-Encoding: base64\n\n" + b64(pdf) +
		"--" + bd + "--\n"))
}

func boundary(kind string) string {
	r := make([]byte, 8)
	rand.Read(r)
	return "=_demo_" + kind + "_" + hex.EncodeToString(r)
}

func qp(s string) string {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	w.Write([]byte(crlf(s)))
	w.Close()
	return strings.TrimRight(buf.String(), "\r\n") + "\n"
}

func b64(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(crlf(s)))
	var out strings.Builder
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	out.WriteString(enc + "\n")
	return out.String()
}

// crlf turns every line end into CRLF, as SMTP wants.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
