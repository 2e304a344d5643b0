package web

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
)

// ConfirmationSender is the envelope and header sender of a tenant's
// confirmation mails: no-reply at its first domain, so that the relay's
// DKIM signature for the tenant aligns with it.
func ConfirmationSender(t *configs.Tenant) string {
	if len(t.Domains) == 0 {
		return ""
	}
	return "no-reply@" + t.Domains[0]
}

// ConfirmationMail is the short mail a candidate gets after consenting
// (links.confirmation_mail): to whom their name and address went, what
// happens next, how to withdraw or ask. It holds no personal link: a
// forwarded copy gives nobody a way into the application. It is a
// complete RFC 5322 message in UTF-8 (base64 body), written by go-message.
func ConfirmationMail(cfg *configs.Config, t *configs.Tenant, r *referral.Referral, to string, now time.Time) ([]byte, error) {
	a := &cfg.Agency
	var body strings.Builder
	if r.Name != "" {
		fmt.Fprintf(&body, "%s 様\n\n", r.Name)
	}
	fmt.Fprintf(&body, "%sからお送りした選考結果のご連絡に添えて、無料キャリア相談をご案内いたしました。\n", t.Name)
	fmt.Fprintf(&body, "%s（%s）に、%sのお申し込みを受け付けましたので、お知らせいたします。\n\n",
		r.ConsentAt.In(japanTime).Format("2006年1月2日 15:04"), "日本時間", a.Name)
	fmt.Fprintf(&body, "■ %sにお伝えした情報\n", a.Name)
	if r.Name != "" {
		fmt.Fprintf(&body, "　お名前：%s\n", r.Name)
	}
	fmt.Fprintf(&body, "　メールアドレス：%s\n\n", to)
	if len(a.NextSteps) > 0 {
		body.WriteString("■ このあとの流れ\n")
		for i, s := range a.NextSteps {
			fmt.Fprintf(&body, "　%d. %s\n", i+1, s)
		}
		body.WriteString("\n")
	}
	body.WriteString("■ お申し込みの取り消し・お問い合わせ\n")
	body.WriteString("　お申し込みは、ご案内メールのリンクからいつでも取り消せます。\n")
	if a.Contact != "" {
		fmt.Fprintf(&body, "　%s\n", a.Contact)
	}
	if a.PrivacyPolicyURL != "" {
		fmt.Fprintf(&body, "　個人情報の取り扱い：%s\n", a.PrivacyPolicyURL)
	}
	fmt.Fprintf(&body, "\n%sには、お申し込みの件数のみが伝わり、どなたがお申し込みになったかは伝わりません。\n", t.Name)
	body.WriteString("このメールは送信専用です。ご返信いただいてもお答えできません。\n")

	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: t.Name, Address: ConfirmationSender(t)}})
	h.SetAddressList("To", []*mail.Address{{Address: to}})
	h.SetSubject("【受付完了】" + a.Name + "の無料キャリア相談へのお申し込み")
	h.Set("Auto-Submitted", "auto-generated")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "base64")
	var m bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&m, h)
	if err == nil {
		_, err = io.WriteString(w, strings.ReplaceAll(body.String(), "\n", "\r\n"))
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("web: confirmation mail: %w", err)
	}
	return m.Bytes(), nil
}
