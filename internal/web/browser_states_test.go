package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
)

// TestCandidatePagesInBrowser renders every state a candidate can see in
// Chromium at 390x844 and 1280 px, on the real bookkeeping with a clock
// the test moves: the landing page, the completion page (with the
// rating), the second visit 31 minutes later, the withdrawn page, the
// expired link and a broken link. No page scrolls sideways, the consent
// button is on the first screen at 390x844, and a full-page screenshot of
// each is kept in artifacts/ (in .gitignore) for people to look at.
func TestCandidatePagesInBrowser(t *testing.T) {
	cfg := testConfig()
	cfg.Links.Rating = true
	cfg.Agency.Description = "IT・Web業界の転職に強い人材紹介会社です。"
	cfg.Agency.LicenseNumber = "13-ユ-000000"
	cfg.Agency.Contact = "お問い合わせ：support@agency.example（平日10時〜18時）"
	cfg.Agency.NextSteps = []string{
		"登録ページで、ご経歴とご希望をご入力ください（約5分）。",
		"担当のキャリアアドバイザーから、2営業日以内にメールでご連絡します。",
		"ご都合のよい日時に、オンラインで面談します（30分〜1時間）。",
	}
	e := newRealEnvConfig(t, cfg, t.TempDir()+"/careerrelay.db", store.Options{})
	now := testNow
	e.pub.pages.now = func() time.Time { return now }
	srv := httptest.NewServer(e.pub.srv.Handler)
	t.Cleanup(srv.Close)
	tok := e.mail(t, 1)[0]
	old := e.mailAt(t, testNow.Add(-200*24*time.Hour))

	b := testlib.NewBrowser(t, &testlib.BrowserOptions{Width: 390, Height: 844})
	shot := func(state string) { t.Helper(); testlib.ShotsAt(t, b, state, 1280, 390) }

	b.Navigate(srv.URL + "/c/" + tok)
	if btn := b.Find(`form.apply button[type="submit"]`).Rect(); btn.Y+btn.Height > 844 || btn.X+btn.Width > 390 {
		t.Errorf("the consent button's box %+v is not on the first screen at 390x844", btn)
	}
	shot("landing")

	b.SetViewport(390, 844)
	b.Find(`input[name="consent"]`).Click()
	b.Find(`form.apply button[type="submit"]`).Click()
	testlib.WaitFor(t, 10*time.Second, "the completion page", func() bool {
		return strings.Contains(b.SourceNow(), `class="stars"`)
	})
	shot("completion")

	now = testNow.Add(31 * time.Minute)
	b.Navigate(srv.URL + "/c/" + tok)
	if h := b.Find("h1").Text(); h != "お申し込み済みです" {
		t.Errorf("the second visit shows %q", h)
	}
	shot("second-visit")

	b.Find(`form[action$="/withdraw"] button`).Click()
	testlib.WaitFor(t, 10*time.Second, "the withdrawn page", func() bool {
		return strings.Contains(b.SourceNow(), "お申し込みを取り消しました")
	})
	shot("withdrawn")

	b.Navigate(srv.URL + "/c/" + old)
	shot("expired")
	b.Navigate(srv.URL + "/c/k1.broken")
	shot("not-found")
}

// mailAt stores a send record of tenant acme sent at sent and returns its
// link token.
func (e *realEnv) mailAt(tb testing.TB, sent time.Time) string {
	tb.Helper()
	id := linktoken.NewSendID()
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.PutSend(&store.Send{ID: id.String(), Tenant: "acme", Rcpt: "old-" + id.String() + "@cand.example",
			Name: "候補 花子", QueueID: "q" + id.String(), Sent: sent})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return e.keys.Mint(id)
}
