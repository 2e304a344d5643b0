package referral

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/store"
)

var (
	linkSecret = bytes.Repeat([]byte("L"), configs.MinSecretBytes)
	hookSecret = []byte("test-only webhook secret, 32 bytes or more")
	t0         = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
)

// env is a Service on a store in a temp folder with a fake clock and no
// jitter. Tenant acme earns a credit per 10 referrals, beta per 3.
type env struct {
	t     *testing.T
	cfg   *configs.Config
	path  string
	db    *store.DB
	s     *Service
	keys  *linktoken.Keys
	clock *testlib.Clock
	opts  Options
}

func testConfig(hookURL string) *configs.Config {
	return &configs.Config{
		Links: configs.Links{
			BaseURL:   "https://careers.example.jp",
			Keys:      []configs.LinkKey{{ID: "k1", Secret: linkSecret}},
			TTL:       configs.DefaultLinkTTL,
			BotWindow: 10 * time.Second,
		},
		Agency: configs.Agency{
			Name:            "Example Career Agency",
			RegistrationURL: "https://agency.example/register",
			Webhook:         configs.Webhook{URL: hookURL, Secret: hookSecret},
		},
		Tenants: []configs.Tenant{
			{ID: "acme", Name: "株式会社アクメ", Domains: []string{"acme.example"}, ReferralsPerCredit: 10},
			{ID: "beta", Name: "Beta <&> Co", Domains: []string{"beta.example"}, ReferralsPerCredit: 3},
		},
	}
}

func newEnv(t *testing.T, hookURL string) *env {
	t.Helper()
	e := &env{
		t:     t,
		cfg:   testConfig(hookURL),
		path:  filepath.Join(t.TempDir(), "careerrelay.db"),
		clock: testlib.NewClock(t0),
	}
	e.opts = Options{Now: e.clock.Now, Random: func() float64 { return 0.5 }}
	var err error
	if e.keys, err = linktoken.NewKeys(e.cfg.Links.Keys); err != nil {
		t.Fatal(err)
	}
	e.open()
	t.Cleanup(func() { e.db.Close() })
	return e
}

// open opens the store file and a Service on it.
func (e *env) open() {
	e.t.Helper()
	var err error
	if e.db, err = store.Open(e.path, store.Options{}); err != nil {
		e.t.Fatal(err)
	}
	if e.s, err = New(e.cfg, e.db, nil, e.opts); err != nil {
		e.t.Fatal(err)
	}
}

// restart closes the store and opens a new Service on the same file, as a
// process restart does.
func (e *env) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// mail stores the send record of a mail to rcpt from tenant, sent now, and
// returns the token of its link.
func (e *env) mail(tenant, rcpt, name string) string {
	e.t.Helper()
	id := linktoken.NewSendID()
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.PutSend(&store.Send{ID: id.String(), Tenant: tenant, Rcpt: rcpt, Name: name,
			MessageID: "<m" + id.String() + "@acme.example>", QueueID: "q" + id.String(), Sent: e.clock.Now()})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.keys.Mint(id)
}

// link mails rcpt and resolves the link.
func (e *env) link(tenant, rcpt string) *Link {
	e.t.Helper()
	l, err := e.s.Resolve(e.mail(tenant, rcpt, ""))
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// refer mails rcpt and records the candidate's consent.
func (e *env) refer(tenant, rcpt string) *Referral {
	e.t.Helper()
	r, err := e.s.Refer(context.Background(), e.link(tenant, rcpt), "consent-v1")
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// referN refers n distinct candidates of tenant, named prefix-i.
func (e *env) referN(tenant, prefix string, n int) []*Referral {
	e.t.Helper()
	var out []*Referral
	for i := range n {
		out = append(out, e.refer(tenant, fmt.Sprintf("%s-%d@cand.example", prefix, i)))
	}
	return out
}

func (e *env) balance(tenant string) *Balance {
	e.t.Helper()
	b, err := e.s.Balance(tenant)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) ledger() []Entry {
	e.t.Helper()
	l, err := e.s.Ledger()
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// count returns how many keys a bucket holds.
func (e *env) count(bucket string) int {
	e.t.Helper()
	n := 0
	err := e.db.View(func(tx *store.Tx) error {
		n = tx.Bolt().Bucket([]byte(bucket)).Stats().KeyN
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// counter reads a counter of package metrics.
func counter(c *prometheus.CounterVec, labels ...string) float64 {
	var m dto.Metric
	if err := c.WithLabelValues(labels...).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
