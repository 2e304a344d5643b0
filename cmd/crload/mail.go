package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/encoding/japanese"
)

// The Japanese text of the rejection mail (お祈りメール), wrapped to short
// lines and repeated until the message reaches the wanted size.
const (
	mailSubject = "選考結果のご連絡"
	mailOpening = `{{NAME}} 様

株式会社アクメ 人事部 採用担当でございます。
このたびは弊社の求人にご応募いただき、誠にありがとうございました。
慎重に選考を重ねました結果、誠に残念ながら今回はご期待に沿えない結果となりました。
ご希望に沿えず大変恐縮ではございますが、何卒ご了承くださいますようお願い申し上げます。
なお、今後のご活躍を支援するため、提携する人材紹介会社の無料キャリア相談をご案内しております。
ご興味がございましたら、以下のリンクからお申し込みください。

{{TAG}}

`
	mailFiller = `末筆ではございますが、これまでの選考過程において貴重なお時間を割いていただきましたことに、改めて心より御礼申し上げます。
面接では、これまでのご経験や今後のキャリアについて丁寧にお話しいただき、担当者一同大変感銘を受けました。
応募書類につきましては、弊社の個人情報保護方針に基づき、責任をもって破棄させていただきます。
`
	mailClosing = `
{{NAME}} 様の今後ますますのご活躍を心よりお祈り申し上げます。

株式会社アクメ 人事部 採用担当
`
)

// maxRunesPerLine keeps each ISO-2022-JP line well under 998 octets (about
// 2 octets a character plus the escape sequences).
const maxRunesPerLine = 36

// buildMessage returns a complete RFC 5322 message (CRLF line ends) of
// about size octets: a tagged rejection mail in ISO-2022-JP, 7bit.
func buildMessage(from, to, msgID, tag string, size int, date time.Time) ([]byte, error) {
	enc := japanese.ISO2022JP.NewEncoder()
	var hdr bytes.Buffer
	subj, err := enc.String(mailSubject)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&hdr, "From: =?ISO-2022-JP?B?%s?= <%s>\r\n",
		mustB64(enc.String("株式会社アクメ 採用担当")), from)
	fmt.Fprintf(&hdr, "To: <%s>\r\n", to)
	fmt.Fprintf(&hdr, "Subject: =?ISO-2022-JP?B?%s?=\r\n", base64.StdEncoding.EncodeToString([]byte(subj)))
	fmt.Fprintf(&hdr, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&hdr, "Message-ID: <%s>\r\n", msgID)
	hdr.WriteString("MIME-Version: 1.0\r\n")
	hdr.WriteString("Content-Type: text/plain; charset=ISO-2022-JP\r\n")
	hdr.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")

	name := strings.SplitN(to, "@", 2)[0]
	opening := strings.NewReplacer("{{NAME}}", name, "{{TAG}}", tag).Replace(mailOpening)
	closing := strings.ReplaceAll(mailClosing, "{{NAME}}", name)

	var body bytes.Buffer
	if err := writeJIS(&body, opening); err != nil {
		return nil, err
	}
	var tail bytes.Buffer
	if err := writeJIS(&tail, closing); err != nil {
		return nil, err
	}
	var filler bytes.Buffer
	if err := writeJIS(&filler, mailFiller); err != nil {
		return nil, err
	}
	// Repeat the filler paragraph while the message stays within size.
	for hdr.Len()+body.Len()+filler.Len()+tail.Len() <= size {
		body.Write(filler.Bytes())
	}
	hdr.Write(body.Bytes())
	hdr.Write(tail.Bytes())
	return hdr.Bytes(), nil
}

func mustB64(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// writeJIS encodes text line by line (each line ends back in ASCII, as RFC
// 1468 requires), wrapping long lines, with CRLF line ends.
func writeJIS(w *bytes.Buffer, text string) error {
	enc := japanese.ISO2022JP.NewEncoder()
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		r := []rune(line)
		if len(r) == len(line) { // ASCII (a tag, a URL): never split
			w.WriteString(line)
			w.WriteString("\r\n")
			continue
		}
		for {
			n := min(len(r), maxRunesPerLine)
			s, err := enc.String(string(r[:n]))
			if err != nil {
				return err
			}
			w.WriteString(s)
			w.WriteString("\r\n")
			r = r[n:]
			if len(r) == 0 {
				break
			}
		}
	}
	return nil
}
