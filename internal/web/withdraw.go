package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// japanTime is the zone of the times the candidate's pages show.
var japanTime = time.FixedZone("JST", 9*60*60)

// applied renders the page a candidate sees on their link once they have
// consented: where the application stands, the way on to the agency, and
// the withdrawal form; after a withdrawal, that it is withdrawn.
func (p *pages) applied(w http.ResponseWriter, r *http.Request, status int, l *referral.Link, ref *referral.Referral,
	token string, justWithdrawn bool, now time.Time) {
	v := &view{
		Title:           "お申し込み状況",
		Tenant:          l.Tenant,
		Agency:          p.cfg.Agency.Name,
		Name:            l.Send.Name,
		AppliedAt:       ref.ConsentAt.In(japanTime).Format("2006年1月2日 15:04"),
		RegistrationURL: p.registrationURL(ref.ID),
		WithdrawAction:  p.linkPath(token) + "/withdraw",
		CSRF:            p.csrf.mint(token, now),
		JustWithdrawn:   justWithdrawn,
	}
	if ref.WithdrawnAt != nil {
		v.Title = "お申し込みの取り消し"
		v.WithdrawnAt = ref.WithdrawnAt.In(japanTime).Format("2006年1月2日 15:04")
	}
	p.write(w, r, status, tmplApplied, v)
}

// withdraw is POST /c/<token>/withdraw: with a good form token, the
// candidate's consent is withdrawn (referral.Service.Withdraw: the agency
// is told; counts do not change) and the page says so.
func (p *pages) withdraw(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, ok := p.resolve(w, r, token)
	if !ok {
		return
	}
	p.headers(w, true)
	now := p.now()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || p.csrf.check(r.PostForm.Get("csrf"), token, now) != nil ||
		r.Header.Get("Sec-Fetch-Site") == "cross-site" || r.Header.Get("Sec-Fetch-Site") == "same-site" {
		p.log.Info("withdrawal refused: bad form token", "tenant", l.Tenant.ID, "send", l.Send.ID)
		p.errorPage(w, r, http.StatusForbidden, "お手続きを受け付けられませんでした",
			[]string{"ページを開いてから時間が経ったか、正しくない方法で送信されたため、取り消しのお手続きを処理できませんでした。",
				"お手数ですが、もう一度ページを開いてからお手続きください。"}, p.linkPath(token))
		return
	}
	ref, err := p.refs.Withdraw(r.Context(), l)
	switch {
	case errors.Is(err, referral.ErrNotReferred):
		// Nothing to withdraw: the page with the offer, as on a GET.
		p.landing(w, r, http.StatusOK, l, token, "", now)
		return
	case errors.Is(err, store.ErrCommitUncertain) || errors.Is(err, store.ErrFailed):
		p.log.Error("recording a withdrawal: unknown whether it is stored", "tenant", l.Tenant.ID, "send", l.Send.ID, "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "お手続きを確認できませんでした", []string{
			"システムの都合により、取り消しのお手続きが完了したかどうかを確認できませんでした。",
			"しばらく時間をおいてから、もう一度ページを開いてご確認ください。",
		}, "")
		return
	case err != nil:
		p.log.Error("recording a withdrawal", "tenant", l.Tenant.ID, "send", l.Send.ID, "err", err)
		p.serverError(w, r)
		return
	}
	p.log.Info("consent withdrawn", "tenant", l.Tenant.ID, "send", l.Send.ID, "referral", ref.ID)
	p.applied(w, r, http.StatusOK, l, ref, token, true, now)
}
