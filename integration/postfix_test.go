//go:build linux

package integration

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// Issue 6, acceptance 1: a real Postfix as the company's server, with
// careerrelay as its relayhost (SASL AUTH over STARTTLS, the relay's
// certificate verified). swaks, standing in for the ATS, submits tagged
// rejection mails to Postfix; they reach the upstream sink through Postfix
// and careerrelay, with a personal link in place of the tag, every other
// character unchanged, both Received fields, and two valid DKIM
// signatures. The relay lets no network relay without AUTH, so Postfix
// must authenticate: with a wrong password nothing gets through.

const tag = "[[career-relay]]"

// A rejection mail in ISO-2022-JP (7bit), as Japanese ATSs send them.
const postfixJPBody = "山田 太郎 様\n\n" +
	"このたびは弊社の求人にご応募いただき、誠にありがとうございました。\n" +
	"慎重に選考を重ねました結果、誠に残念ながら今回はご期待に添えない結果となりました。\n" +
	"今後のキャリアについては、提携エージェントの無料サポートをご利用ください：\n" +
	tag + "\n" +
	"末筆ながら、山田様の今後のご活躍を心よりお祈り申し上げます。\n\n" +
	"株式会社アクメ 採用担当\n"

// Another in UTF-8, sent as 8bit: Postfix passes it on with BODY=8BITMIME
// (it would convert it to quoted-printable if the relay did not offer
// 8BITMIME), and it must arrive as 8bit.
const postfixUTF8Body = "佐藤 花子 様\n\n" +
	"選考の結果、今回は採用を見送らせていただくこととなりました。\n" +
	"キャリアのご相談（無料）はこちら → " + tag + " 〜お気軽にどうぞ〜\n" +
	"今後のご活躍をお祈り申し上げます。\n"

func TestPostfixRelayhost(t *testing.T) {
	t.Parallel()
	binary(t) // skipped with -short before asking for Postfix
	inst := needPostfix(t)
	swaks := needSwaks(t)

	t.Run("authenticated", func(t *testing.T) {
		t.Parallel()
		sink := newSink(t, nil)
		var certPEM []byte
		r := NewRelay(t, sink.Addr, noNetworks, func(dir string, c *Config) {
			certPEM = withTLSAuth(t, dir, c)
			// The AUTH user is bound to its tenant (issue 12).
			c.SMTP.Users[0].Tenants = []string{tenantID}
		})
		if out, code := runBinary(t, "check-config", "-config", r.ConfigPath); code != 0 || !strings.Contains(out, "config OK") {
			t.Fatalf("check-config: exit %d, want 0 and \"config OK\":\n%s", code, out)
		}
		r.Start()
		pf := StartPostfix(t, inst, PostfixOptions{
			Relayhost: r.SMTPAddr, CertPEM: certPEM, User: authUser, Password: authPassword,
		})

		mails := []struct {
			to, charset, cte, subject, body string
		}{
			{"taro@cand1.example", "ISO-2022-JP", "7bit", "選考結果のご連絡", postfixJPBody},
			{"hanako@cand2.example", "UTF-8", "8bit", "選考結果について", postfixUTF8Body},
		}
		sent := map[string]int{} // Message-ID -> index in mails
		for i, m := range mails {
			data, id := postfixMail(t, m.to, m.charset, m.cte, m.subject, m.body)
			sent[id] = i
			out := swaksSend(t, swaks, pf.Addr, m.to, data)
			if !regexp.MustCompile(`(?m)^<-\s+250 2\.0\.0 Ok: queued as \S+`).Match(out) {
				t.Fatalf("Postfix did not queue the %s mail:\n%s", m.charset, out)
			}
		}

		msgs := sink.WaitForCount(t, len(mails), deliveryTimeout)
		testlib.Poll(300*time.Millisecond, func() bool { return sink.Count() > len(mails) })
		if n := sink.Count(); n != len(mails) {
			t.Fatalf("the sink got %d messages, want %d", n, len(mails))
		}
		pol := &dkimPolicy{records: map[string]string{}}
		if err := pol.add(r.Config, r.Dir); err != nil {
			t.Fatal(err)
		}
		links := map[string]bool{}
		for _, got := range msgs {
			i, ok := sent[got.MessageID]
			if !ok {
				t.Fatalf("the sink got a message with Message-ID %q, not one swaks sent:\n%s", got.MessageID, got.Data)
			}
			m := mails[i]
			t.Run(m.charset, func(t *testing.T) {
				if got.From != tenantSender || len(got.Rcpts) != 1 || got.Rcpts[0] != m.to {
					t.Errorf("envelope %q -> %q, want %q -> [%q]", got.From, got.Rcpts, tenantSender, m.to)
				}
				link := checkPostfixRewrite(t, got.Data, m.charset, m.cte, m.body)
				if links[link] {
					t.Errorf("link %s went to two candidates", link)
				}
				links[link] = true
				checkPostfixTrace(t, got.Data)
				// DKIM, now (go-msgauth and python3-dkim, offline, with the
				// tenant's public keys); the sink checks every message again
				// when the test ends.
				if problems := pol.check(t, got.From, got.Data, nil, true); len(problems) > 0 {
					t.Errorf("DKIM:\n%s", strings.Join(problems, "\n"))
				}
				for _, f := range headerFields(got.Data) {
					if f.name == "dkim-signature" {
						s := parseTags(f.value)
						t.Logf("DKIM-Signature d=%s s=%s a=%s c=%s verifies", s["d"], s["s"], s["a"], s["c"])
					}
				}
			})
		}

		// Postfix authenticated: the relay logged it, and Postfix verified
		// the relay's certificate.
		if !regexp.MustCompile(`authenticated.*user=` + authUser).MatchString(r.Log()) {
			t.Errorf("the relay's log has no AUTH of user %s", authUser)
		}
		if log := pf.Log(); !strings.Contains(log, "Verified TLS connection established to 127.0.0.1") {
			t.Errorf("Postfix's log has no verified TLS connection to the relay:\n%s", log)
		}
		for _, l := range strings.Split(pf.Log(), "\n") {
			if strings.Contains(l, "Verified TLS") || strings.Contains(l, "status=sent") {
				t.Logf("postfix: %s", l)
			}
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		sink := newSink(t, nil)
		var certPEM []byte
		r := StartRelay(t, sink.Addr, noNetworks, func(dir string, c *Config) {
			certPEM = withTLSAuth(t, dir, c)
			c.SMTP.Users[0].Tenants = []string{tenantID}
		})
		pf := StartPostfix(t, inst, PostfixOptions{
			Relayhost: r.SMTPAddr, CertPEM: certPEM, User: authUser, Password: "not the password",
		})
		data, _ := postfixMail(t, candidate, "ISO-2022-JP", "7bit", "選考結果のご連絡", postfixJPBody)
		swaksSend(t, swaks, pf.Addr, candidate, data)

		// Postfix tries, is refused at AUTH, and keeps the mail (deferred).
		testlib.WaitFor(t, deliveryTimeout, "Postfix to log a failed SASL AUTH and a deferral", func() bool {
			log := pf.Log()
			return strings.Contains(log, "SASL authentication failed") && strings.Contains(log, "status=deferred")
		})
		if !strings.Contains(r.Log(), "auth failed") {
			t.Errorf("the relay's log has no failed AUTH")
		}
		if n := sink.Attempts(); n != 0 {
			t.Errorf("the sink was offered %d messages", n)
		}
		for _, l := range strings.Split(pf.Log(), "\n") {
			if strings.Contains(l, "SASL authentication failed") {
				t.Logf("refused as expected: %s", l)
				break
			}
		}
	})
}

// postfixMail returns a rejection mail from the tenant's HR to rcpt, with
// body (LF line ends) in charset and transfer encoding cte (7bit or 8bit),
// CRLF line ends, and its Message-ID (without angle brackets).
func postfixMail(t *testing.T, rcpt, charset, cte, subject, body string) ([]byte, string) {
	t.Helper()
	encoded := []byte(body)
	if charset == "ISO-2022-JP" {
		var err error
		if encoded, _, err = transform.Bytes(japanese.ISO2022JP.NewEncoder(), encoded); err != nil {
			t.Fatalf("encoding ISO-2022-JP: %v", err)
		}
	}
	id := newMessageID()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <%s>\r\n", mime.BEncoding.Encode("UTF-8", "株式会社アクメ 採用担当"), tenantSender)
	fmt.Fprintf(&b, "To: <%s>\r\n", rcpt)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.BEncoding.Encode("UTF-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n", charset, cte)
	b.Write(bytes.ReplaceAll(encoded, []byte("\n"), []byte("\r\n")))
	return b.Bytes(), id
}

// swaksSend submits data with swaks to the smtpd at addr, as the ATS would,
// and returns swaks's transcript.
func swaksSend(t *testing.T, swaks, addr, rcpt string, data []byte) []byte {
	t.Helper()
	// swaks --data rewrites a backslash-n and tokens such as %DATE% in
	// the data (which ISO-2022-JP bytes could spell), and ends the data
	// with CRLF itself, before the dot.
	if bytes.Contains(data, []byte(`\n`)) || regexp.MustCompile(`%[A-Z_]+%`).Match(data) {
		t.Fatalf("swaks would rewrite this message: it holds \\n or a %%TOKEN%%:\n%q", data)
	}
	data = bytes.TrimSuffix(data, []byte("\r\n"))
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(swaks,
		"--server", host, "--port", port,
		"--ehlo", "ats.acme.example",
		"--from", tenantSender, "--to", rcpt,
		"--data", "-",
		"--timeout", "30",
	)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	return out
}

// checkPostfixRewrite checks that the delivered message is still in
// charset and transfer encoding cte (Postfix passed 8bit on with
// BODY=8BITMIME, no downgrade), and that its text is body with the tag
// replaced by a personal link; it returns the link.
func checkPostfixRewrite(t *testing.T, data []byte, charset, cte, body string) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the delivered message does not parse: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "text/plain" || !strings.EqualFold(params["charset"], charset) {
		t.Fatalf("Content-Type %q, want text/plain; charset=%s", msg.Header.Get("Content-Type"), charset)
	}
	gotCTE := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding"))
	if gotCTE != cte {
		t.Errorf("Content-Transfer-Encoding %q, want %q as submitted", gotCTE, cte)
	}
	var r io.Reader = msg.Body
	switch gotCTE {
	case "", "7bit", "8bit":
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	default:
		t.Fatalf("Content-Transfer-Encoding %q", gotCTE)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", gotCTE, err)
	}
	if strings.EqualFold(charset, "ISO-2022-JP") {
		if raw, _, err = transform.Bytes(japanese.ISO2022JP.NewDecoder(), raw); err != nil {
			t.Fatalf("decoding ISO-2022-JP: %v", err)
		}
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	if strings.Contains(text, tag) {
		t.Errorf("the tag is still in the text:\n%s", text)
	}
	m := linkRE.FindStringSubmatch(text)
	if m == nil || m[1] != "c" {
		t.Fatalf("no personal link …/c/<token> in the text:\n%s", text)
	}
	if want := strings.Replace(body, tag, m[0], 1); text != want {
		t.Errorf("text after the rewrite:\n%s\nwant (the tag replaced, nothing else changed):\n%s", text, want)
	}
	t.Logf("tag became %s", m[0])
	return m[0]
}

// checkPostfixTrace checks the Received fields: careerrelay's on top,
// saying Postfix handed the mail over STARTTLS with AUTH (ESMTPSA), and
// Postfix's below it.
func checkPostfixTrace(t *testing.T, data []byte) {
	t.Helper()
	var received []string
	for _, f := range headerFields(data) {
		if f.name == "received" {
			received = append(received, f.value)
		}
	}
	ours := regexp.MustCompile(`^from ` + regexp.QuoteMeta(postfixHostname) + ` \(\[127\.0\.0\.1\]\) by ` +
		regexp.QuoteMeta(relayHost) + ` \(careerrelay\) with ESMTPSA id `)
	theirs := regexp.MustCompile(`^from ats\.acme\.example \(localhost \[127\.0\.0\.1\]\) by ` +
		regexp.QuoteMeta(postfixHostname) + ` \(Postfix\) with E?SMTP id `)
	if len(received) != 2 || !ours.MatchString(received[0]) || !theirs.MatchString(received[1]) {
		t.Errorf("Received fields, top to bottom:\n%s\nwant careerrelay's (with ESMTPSA, from %s) above Postfix's",
			strings.Join(received, "\n"), postfixHostname)
	}
}
