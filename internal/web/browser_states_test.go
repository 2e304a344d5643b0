package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	shot := func(state string) {
		t.Helper()
		for _, width := range []int{1280, 390} {
			b.SetViewport(width, 844)
			var scrollW int
			b.Do("read the page's width", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
				scrollW, err = chromedp.Evaluate[int](`document.documentElement.scrollWidth`)(ctx, tg)
				return err
			}))
			if scrollW > width {
				t.Errorf("%s at %d px: the page is %d px wide, it scrolls sideways", state, width, scrollW)
			}
			var png []byte
			b.Do("full-page screenshot", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
				png, err = chromedp.FullScreenshot(100)(ctx, tg)
				return err
			}))
			keep(t, fmt.Sprintf("%s-%s-%d.png", t.Name(), state, width), png)
		}
	}

	b.Navigate(srv.URL + "/c/" + tok)
	if btn := b.Find(`form.apply button[type="submit"]`).Rect(); btn.Y+btn.Height > 844 || btn.X+btn.Width > 390 {
		t.Errorf("the consent button's box %+v is not on the first screen at 390x844", btn)
	}
	shot("landing")

	b.SetViewport(390, 844)
	b.Find(`input[name="consent"]`).Click()
	b.Find(`form.apply button[type="submit"]`).Click()
	testlib.WaitFor(t, 10*time.Second, "the completion page", func() bool { return b.Count("form.stars") == 1 })
	shot("completion")

	now = testNow.Add(31 * time.Minute)
	b.Navigate(srv.URL + "/c/" + tok)
	if h := b.Find("h1").Text(); h != "お申し込み済みです" {
		t.Errorf("the second visit shows %q", h)
	}
	shot("second-visit")

	b.Find(`form[action$="/withdraw"] button`).Click()
	testlib.WaitFor(t, 10*time.Second, "the withdrawn page", func() bool { return b.Count(`form[action$="/withdraw"]`) == 0 && b.Count("h1") == 1 })
	shot("withdrawn")

	b.Navigate(srv.URL + "/c/" + old)
	shot("expired")
	b.Navigate(srv.URL + "/c/k1.broken")
	shot("not-found")
}

// keep writes an artifact for people to look at.
func keep(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := filepath.Abs(filepath.Join("artifacts", name))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", p)
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
