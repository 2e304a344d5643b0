package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/store"
)

// TestSecondVisitAndRating: right after consent the link shows the
// completion page with the rating (links.rating); a rating is counted
// once, anonymously, and the report shows it; 31 minutes later the link
// shows 「お申し込み済み」 with the date, the agency and the withdrawal,
// and no rating.
func TestSecondVisitAndRating(t *testing.T) {
	cfg := testConfig()
	cfg.Links.Rating = true
	cfg.Agency.NextSteps = []string{"登録ページでご経歴をご入力ください。"}
	e := newRealEnvConfig(t, cfg, t.TempDir()+"/careerrelay.db", store.Options{})
	tp := &testPublic{Public: e.pub}
	tok := e.mail(t, 1)[0]
	tp.consented(t, tp.post("/c/"+tok, tp.consentForm(t, tok)), tok)
	page := tp.get("/c/" + tok).Body.String()
	for _, want := range []string{"お申し込みを受け付けました", "ご感想をお聞かせください", `name="stars" value="5"`, "登録ページでご経歴をご入力ください。", "お申し込みを取り消す"} {
		if !strings.Contains(page, want) {
			t.Errorf("the completion page lacks %q", want)
		}
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	for _, stars := range []string{"4", "1"} { // the second is not counted
		if rec := tp.post("/c/"+tok+"/rating", url.Values{"csrf": {csrf}, "stars": {stars}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("rating: %d", rec.Code)
		}
	}
	if page := tp.get("/c/" + tok).Body.String(); !strings.Contains(page, "ご回答ありがとうございました") {
		t.Error("the page does not thank for the rating")
	}
	rep, err := report.Build(e.svc, cfg.TenantByID("acme"), testNow.AddDate(0, 0, -1), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Ratings != 1 || rep.Total.RatingAverage == nil || *rep.Total.RatingAverage != 4 {
		t.Errorf("report ratings %d, average %v; want 1 rating of 4", rep.Total.Ratings, rep.Total.RatingAverage)
	}

	later := testNow.Add(31 * time.Minute)
	e.pub.pages.now = func() time.Time { return later }
	page = tp.get("/c/" + tok).Body.String()
	for _, want := range []string{"お申し込み済みです", "にお申し込みいただいています", "の登録ページへ進む", "お申し込みを取り消す"} {
		if !strings.Contains(page, want) {
			t.Errorf("the second visit's page lacks %q", want)
		}
	}
	if strings.Contains(page, "ご感想をお聞かせください") {
		t.Error("the second visit offers the rating again")
	}
	date := testNow.In(japanTime).Format("2006年1月2日")
	if !strings.Contains(page, date) {
		t.Errorf("the second visit's page lacks the date %s", date)
	}
}
