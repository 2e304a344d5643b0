package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// japanTime is the zone of the times the candidate's pages show.
var japanTime = time.FixedZone("JST", 9*60*60)

// completionWindow is how long after consent the link shows the
// completion page (受付完了, next steps, the rating); later it shows
// 「お申し込み済み」 with the date.
const completionWindow = 30 * time.Minute

// applied renders the page a candidate sees on their link once they have
// consented: where the application stands, the way on to the agency, and
// the withdrawal form; after a withdrawal, that it is withdrawn.
func (p *pages) applied(w http.ResponseWriter, r *http.Request, status int, l *referral.Link, ref *referral.Referral,
	token string, justWithdrawn bool, now time.Time) {
	v := p.agencyView(&view{
		Title:           "お申し込み状況",
		Tenant:          l.Tenant,
		Name:            l.Send.Name,
		Address:         maskAddress(l.Send.Rcpt),
		AppliedAt:       ref.ConsentAt.In(japanTime).Format("2006年1月2日 15:04"),
		Completed:       now.Sub(ref.ConsentAt) < completionWindow,
		RegistrationURL: p.registrationURL(ref.ID),
		WithdrawAction:  p.linkPath(token) + "/withdraw",
		CSRF:            p.csrf.mint(token, now),
		JustWithdrawn:   justWithdrawn,
		Rated:           ref.Rated,
	})
	if p.cfg.Links.Rating && v.Completed {
		v.RatingAction = p.linkPath(token) + "/rating"
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
	if p.readForm(w, r, token, now) != formOK {
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
		p.failure(w, r, err)
		return
	}
	p.log.Info("consent withdrawn", "tenant", l.Tenant.ID, "send", l.Send.ID, "referral", ref.ID)
	p.applied(w, r, http.StatusOK, l, ref, token, true, now)
}

// rater is the rating's bookkeeping; *referral.Service has it.
type rater interface {
	Rate(ctx context.Context, l *referral.Link, stars int) error
}

// rate is POST /c/<token>/rating (links.rating): with a good form token
// and 1 to 5 stars, the candidate's anonymous rating is counted once, and
// the link's page says thank you. Nothing else is recorded.
func (p *pages) rate(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, ok := p.resolve(w, r, token)
	if !ok {
		return
	}
	p.headers(w, true)
	rt, can := p.refs.(rater)
	if !p.cfg.Links.Rating || !can {
		p.notFound(w, r)
		return
	}
	if p.readForm(w, r, token, p.now()) != formOK {
		p.errorPage(w, r, http.StatusForbidden, "ご回答を受け付けられませんでした",
			[]string{"ページを開いてから時間が経ったため、ご回答を受け付けられませんでした。お手数ですが、もう一度ページを開いてからお試しください。"}, p.linkPath(token))
		return
	}
	stars, _ := strconv.Atoi(r.PostForm.Get("stars"))
	switch err := rt.Rate(r.Context(), l, stars); {
	case err == nil, errors.Is(err, referral.ErrRated):
		// Counted now, or before: the page thanks either way.
	case errors.Is(err, referral.ErrNotReferred):
		p.landing(w, r, http.StatusOK, l, token, "", p.now())
		return
	default:
		p.log.Error("recording a rating", "tenant", l.Tenant.ID, "err", err)
		p.failure(w, r, err)
		return
	}
	w.Header().Set("Location", p.linkPath(token))
	w.WriteHeader(http.StatusSeeOther)
}
