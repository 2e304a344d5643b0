package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
	"github.com/careerrelay/careerrelay/store/postgres"
)

// benchNodes builds n link-page nodes (the public handler over its own
// referral service) on one shared store: the node's own bbolt file (n is
// 1) or one private PostgreSQL server. It returns the handlers and a
// function that stores send records and returns their tokens.
func benchNodes(b *testing.B, backend string, n int) ([]http.Handler, func(k int) []string) {
	b.Helper()
	cfg := testConfig()
	cfg.Privacy.HashKey = []byte(strings.Repeat("p", 32))
	keys, err := linktoken.NewKeys(cfg.Links.Keys)
	if err != nil {
		b.Fatal(err)
	}
	var shared store.Shared
	if backend == "postgres" {
		pg := testlib.NewPostgres(b)
		s, err := postgres.Open(context.Background(), pg.DSN, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		shared = s
	}
	var handlers []http.Handler
	for i := range n {
		db, err := store.Open(filepath.Join(b.TempDir(), fmt.Sprintf("node%d.db", i)), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if shared == nil {
			shared = db.Shared()
		}
		svc, err := referral.New(cfg, db, testLog(), referral.Options{Shared: shared})
		if err != nil {
			b.Fatal(err)
		}
		pub, err := NewPublic(cfg, svc, nil, metrics.NewRegistry(cfg.TenantIDs()), testLog())
		if err != nil {
			b.Fatal(err)
		}
		pub.pages.clicks = newClickLimiter()
		handlers = append(handlers, pub.srv.Handler)
	}
	mail := func(k int) []string {
		toks := make([]string, k)
		err := shared.Update(context.Background(), func(tx store.SharedTx) error {
			for i := range toks {
				id := linktoken.NewSendID()
				if err := store.PutSend(tx, &store.Send{ID: id.String(), Tenant: "acme", Rcpt: "b-" + id.String() + "@cand.example",
					QueueID: "q", Sent: time.Now().Add(-time.Hour)}); err != nil {
					return err
				}
				toks[i] = keys.Mint(id)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return toks
	}
	return handlers, mail
}

// BenchmarkNodes measures the link pages' two requests that touch the
// shared store, each spread over the nodes round robin, with parallel
// clients: landing GETs (a click recorded) and consent POSTs (a referral,
// its ledger entry, balance and webhook in one serializable transaction),
// on bbolt (one node) and on PostgreSQL at one and three nodes. docs/scaling.md
// has the figures.
func BenchmarkNodes(b *testing.B) {
	for _, c := range []struct {
		backend string
		nodes   int
	}{{"bbolt", 1}, {"postgres", 1}, {"postgres", 3}} {
		b.Run(fmt.Sprintf("%s-%dnode/landing", c.backend, c.nodes), func(b *testing.B) {
			hs, mail := benchNodes(b, c.backend, c.nodes)
			toks := mail(2000)
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					req := httptest.NewRequest(http.MethodGet, "/c/"+toks[i%len(toks)], nil)
					req.Header.Set("User-Agent", browserUA)
					req.RemoteAddr = fmt.Sprintf("203.0.%d.%d:1", i/250%250, i%250)
					rec := httptest.NewRecorder()
					hs[i%len(hs)].ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("GET: %d", rec.Code)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "GETs/s")
		})
		b.Run(fmt.Sprintf("%s-%dnode/consent", c.backend, c.nodes), func(b *testing.B) {
			hs, mail := benchNodes(b, c.backend, c.nodes)
			toks := mail(b.N + 1)
			pub := &testPublic{Public: &Public{pages: &pages{csrf: mustCSRF(b), rd: mustRenderer(b)}}}
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					tok := toks[i%len(toks)]
					form := consentBody(pub, tok)
					req := httptest.NewRequest(http.MethodPost, "/c/"+tok, strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("User-Agent", browserUA)
					req.RemoteAddr = fmt.Sprintf("203.0.%d.%d:1", i/250%250, i%250)
					rec := httptest.NewRecorder()
					hs[i%len(hs)].ServeHTTP(rec, req)
					if rec.Code != http.StatusSeeOther {
						b.Errorf("POST: %d", rec.Code)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "consents/s")
		})
	}
}

// mustCSRF and mustRenderer give the form fields a page of testConfig
// would render.
func mustCSRF(b *testing.B) csrfKeys {
	k, err := newCSRFKeys(testConfig().Links.Keys)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func mustRenderer(b *testing.B) *renderer {
	rd, err := newRenderer(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	return rd
}

// consentBody is the ticked consent form of tok, encoded.
func consentBody(tp *testPublic, tok string) string {
	return url.Values{"csrf": {tp.pages.csrf.mint(tok, time.Now())}, "consent": {"on"},
		"consent_version": {tp.pages.rd.consentVersion}}.Encode()
}
