package referral

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

func TestResolve(t *testing.T) {
	e := newEnv(t, "")
	token := e.mail("acme", "Taro@Cand.example", "候補 太郎")

	l, err := e.s.Resolve(token)
	if err != nil {
		t.Fatal(err)
	}
	if l.Send.Rcpt != "Taro@Cand.example" || l.Send.Name != "候補 太郎" || l.Tenant.ID != "acme" || l.Tenant.Name != "株式会社アクメ" {
		t.Errorf("link %+v %+v", l.Send, l.Tenant)
	}

	other, _ := linktoken.NewKeys([]configs.LinkKey{{ID: "k1", Secret: []byte(strings.Repeat("x", 32))}})
	kid, enc, _ := strings.Cut(token, ".")
	flip := []byte(enc)
	flip[3] ^= 1
	if flip[3] == '.' || flip[3] > 'z' {
		flip[3] = 'A'
	}
	bad := map[string]string{
		"empty":          "",
		"garbage":        "not-a-token",
		"tampered":       kid + "." + string(flip),
		"truncated":      token[:len(token)-2],
		"unknown key id": "k9." + enc,
		"other secret":   other.Mint(linktoken.NewSendID()),
		// A valid MAC over a send id the store has no record of.
		"unknown send id": e.keys.Mint(linktoken.NewSendID()),
	}
	for name, tok := range bad {
		if l, err := e.s.Resolve(tok); l != nil || err != ErrInvalidToken {
			t.Errorf("%s: %v, %v; want ErrInvalidToken and no link", name, l, err)
		}
	}
	// Nothing was stored by any of these.
	for _, b := range []string{store.BucketClicks, store.BucketReferrals, store.BucketLedger, store.BucketOutbox} {
		if n := e.count(b); n != 0 {
			t.Errorf("bucket %s holds %d records after resolving", b, n)
		}
	}

	// Expiry: valid up to links.ttl after the send, expired after, with
	// the link so the page can name the tenant.
	e.clock.Advance(e.cfg.Links.TTL)
	if _, err := e.s.Resolve(token); err != nil {
		t.Errorf("at exactly ttl: %v", err)
	}
	e.clock.Advance(time.Second)
	l, err = e.s.Resolve(token)
	wantErr(t, err, ErrExpired)
	if l == nil || l.Tenant.ID != "acme" {
		t.Errorf("expired link without its tenant: %+v", l)
	}
	if _, err := e.s.Refer(context.Background(), l, "v1"); err != ErrExpired {
		t.Errorf("Refer on an expired link: %v", err)
	}
}

// A send record whose tenant was removed from the config.
func TestResolveUnknownTenant(t *testing.T) {
	e := newEnv(t, "")
	token := e.mail("gone", "a@cand.example", "")
	_, err := e.s.Resolve(token)
	wantErr(t, err, ErrUnknownTenant)
}

func TestClicksNeverRefer(t *testing.T) {
	e := newEnv(t, "https://agency.invalid/hook")
	l := e.link("acme", "c@cand.example")
	human0, bot0 := counter(metrics.LinkClicks, "acme", Human), counter(metrics.LinkClicks, "acme", Bot)
	for _, class := range []string{Bot, Bot, Human, Human, Human} {
		if err := e.s.RecordClick(context.Background(), l, class); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
	}
	if err := e.s.RecordClick(context.Background(), l, "robot"); err == nil {
		t.Error("click class robot accepted")
	}
	if err := e.s.RecordClick(context.Background(), &Link{}, Human); err != ErrInvalidToken {
		t.Errorf("click on an empty link: %v", err)
	}
	if d := counter(metrics.LinkClicks, "acme", Human) - human0; d != 3 {
		t.Errorf("human clicks metric +%v, want +3", d)
	}
	if d := counter(metrics.LinkClicks, "acme", Bot) - bot0; d != 2 {
		t.Errorf("bot clicks metric +%v, want +2", d)
	}
	var got []string
	err := e.s.Clicks(func(c *Click) error {
		if c.SendID != l.Send.ID || c.Tenant != "acme" {
			t.Errorf("click %+v", c)
		}
		got = append(got, c.Class+"@"+c.Time.Format("15:04"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "bot@09:00 bot@09:01 human@09:02 human@09:03 human@09:04"; strings.Join(got, " ") != want {
		t.Errorf("clicks %q, want %q", got, want)
	}
	for _, b := range []string{store.BucketReferrals, store.BucketReferralIndex, store.BucketLedger, store.BucketOutbox} {
		if n := e.count(b); n != 0 {
			t.Errorf("bucket %s holds %d records after clicks", b, n)
		}
	}
	if b := e.balance("acme"); b.Referrals != 0 {
		t.Errorf("balance after clicks: %+v", b)
	}
}
