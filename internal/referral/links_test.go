package referral

import (
	"context"
	"encoding/json"
	"fmt"
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
		got = append(got, fmt.Sprintf("%s×%d@%s", c.Class, c.Count, c.Time.Format("15:04")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One record for the hour: the counts, and each class's first click.
	if want := "human×3@09:02 bot×2@09:00"; strings.Join(got, " ") != want {
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

// TestClickCountsBounded: a link clicked all day and night takes one
// record per hour up to MaxClickHours, then older hours fold into the
// oldest; no click is lost from the counts and the first human click keeps
// its time.
func TestClickCountsBounded(t *testing.T) {
	e := newEnv(t, "")
	l := e.link("acme", "d@cand.example")
	other := e.link("acme", "e@cand.example")
	start := e.clock.Now().UTC()
	if err := e.s.RecordClick(context.Background(), l, Bot); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	firstHuman := e.clock.Now().UTC()
	const hours = 3 * MaxClickHours
	for range hours {
		for range 2 {
			if err := e.s.RecordClick(context.Background(), l, Human); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(time.Hour)
	}
	if err := e.s.RecordClick(context.Background(), other, Human); err != nil {
		t.Fatal(err)
	}
	if n := e.count(store.BucketClickCounts); n != MaxClickHours+1 {
		t.Errorf("%d click count records, want %d (the link's bound) + 1", n, MaxClickHours+1)
	}
	if n := e.count(store.BucketClicks); n != 0 {
		t.Errorf("%d per-click records", n)
	}
	human, bot := 0, 0
	var oldest time.Time
	err := e.s.Clicks(func(c *Click) error {
		if c.SendID != l.Send.ID {
			return nil
		}
		if c.Class == Human {
			human += c.Count
		} else {
			bot += c.Count
		}
		if oldest.IsZero() || c.Time.Before(oldest) {
			oldest = c.Time
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if human != 2*hours || bot != 1 || !oldest.Equal(start) {
		t.Errorf("counted %d human and %d bot clicks from %v, want %d and 1 from %v", human, bot, oldest, 2*hours, start)
	}
	if at, ok, err := e.s.FirstHumanClick(l.Send.ID); err != nil || !ok || !at.Equal(firstHuman) {
		t.Errorf("first human click %v %v %v, want %v", at, ok, err, firstHuman)
	}
	if _, ok, err := e.s.FirstHumanClick("nobody"); ok || err != nil {
		t.Errorf("first human click of an unclicked link: %v %v", ok, err)
	}
}

// TestOldClickRecords: a store written before click counts holds one
// record per click in BucketClicks; they are still read, with Count 1,
// next to the counts of later clicks.
func TestOldClickRecords(t *testing.T) {
	e := newEnv(t, "")
	l := e.link("acme", "f@cand.example")
	old := e.clock.Now().UTC().Add(-24 * time.Hour)
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		b := tx.Bolt().Bucket([]byte(store.BucketClicks))
		for i, class := range []string{Bot, Human, Human} {
			// The JSON of a click record as it was written.
			v, _ := json.Marshal(map[string]any{"send_id": l.Send.ID, "tenant": "acme",
				"time": old.Add(time.Duration(i) * time.Minute), "class": class})
			if err := b.Put(seqKey(uint64(i+1)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.RecordClick(context.Background(), l, Human); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = e.s.Clicks(func(c *Click) error {
		got = append(got, fmt.Sprintf("%s×%d@%s", c.Class, c.Count, c.Time.Format("01-02 15:04")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("bot×1@%s human×1@%s human×1@%s human×1@%s", old.Format("01-02 15:04"),
		old.Add(time.Minute).Format("01-02 15:04"), old.Add(2*time.Minute).Format("01-02 15:04"),
		e.clock.Now().UTC().Format("01-02 15:04"))
	if strings.Join(got, " ") != want {
		t.Errorf("clicks %q, want %q", got, want)
	}
	if at, ok, err := e.s.FirstHumanClick(l.Send.ID); err != nil || !ok || !at.Equal(old.Add(time.Minute)) {
		t.Errorf("first human click %v %v %v, want %v", at, ok, err, old.Add(time.Minute))
	}
}
