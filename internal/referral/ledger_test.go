package referral

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/store"
)

// Golden hashes computed with the Python recipe of the package comment.
func TestEntryHashGolden(t *testing.T) {
	for _, c := range []struct {
		e         Entry
		canonical string
		hash      string
	}{{
		Entry{Seq: 2, Time: t0, Tenant: "acme", Kind: KindRedeem, Amount: -1, Note: "採用 \"A\" \\ 😀 <&> é\x7f", Prev: "abc"},
		`{"amount":-1,"kind":"redeem","note":"\u63a1\u7528 \"A\" \\ \ud83d\ude00 <&> \u00e9\u007f","prev":"abc","seq":2,"tenant":"acme","time":"2026-11-24T09:00:00Z"}`,
		"42a820ce86cf093f20f27762a4ac43035bd829a200a8e2654468098be0ee6f58",
	}, {
		Entry{Seq: 1, Time: t0, Tenant: "acme", Kind: KindReferral, ReferralID: "abcdefghijklmnopqrstuvwxyz"},
		`{"amount":0,"kind":"referral","prev":"","referral_id":"abcdefghijklmnopqrstuvwxyz","seq":1,"tenant":"acme","time":"2026-11-24T09:00:00Z"}`,
		"6e15321cc90b7daf9c8473d95d9fb8126ef4e1338d2c137c06abccad4086fd4b",
	}} {
		if got := string(canonical(&c.e)); got != c.canonical {
			t.Errorf("canonical\n got %s\nwant %s", got, c.canonical)
		}
		if got := entryHash(&c.e); got != c.hash {
			t.Errorf("hash of %d: %s, want %s", c.e.Seq, got, c.hash)
		}
	}
}

// ledgerEnv has referrals, grants, a redemption and an adjustment of two
// tenants, interleaved.
func ledgerEnv(t *testing.T) *env {
	e := newEnv(t, "")
	e.referN("beta", "b", 2)
	e.referN("acme", "a", 10)
	e.referN("beta", "c", 2)
	if _, err := e.s.Redeem(context.Background(), "acme", "hire 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Adjust(context.Background(), "beta", 1, "goodwill"); err != nil {
		t.Fatal(err)
	}
	return e
}

// tamper rewrites ledger entry seq directly in the bbolt bucket.
func (e *env) tamper(seq uint64, change func(en *Entry)) {
	e.t.Helper()
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		b := tx.Bolt().Bucket([]byte(store.BucketLedger))
		var en Entry
		if err := json.Unmarshal(b.Get(seqKey(seq)), &en); err != nil {
			return err
		}
		if change == nil {
			return b.Delete(seqKey(seq))
		}
		change(&en)
		v, err := json.Marshal(&en)
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), v)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func wantVerifyError(t *testing.T, err error, seq uint64, reason string) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want a *VerifyError for entry %d", err, seq)
	}
	if ve.Seq != seq || !strings.Contains(ve.Reason, reason) {
		t.Errorf("error %q, want entry %d: …%s…", err, seq, reason)
	}
	if !strings.Contains(err.Error(), "ledger entry ") {
		t.Errorf("message %q does not name the entry", err)
	}
}

func TestVerify(t *testing.T) {
	e := ledgerEnv(t)
	l := e.ledger()
	if len(l) != 18 {
		t.Fatalf("%d entries", len(l))
	}
	if err := Verify(l); err != nil {
		t.Fatal(err)
	}
	if err := Verify(nil); err != nil {
		t.Errorf("empty ledger: %v", err)
	}

	// A note changed in place: that entry's hash no longer matches.
	e.tamper(13, func(en *Entry) { en.Note = "hire 2" })
	err := Verify(e.ledger())
	wantVerifyError(t, err, 13, "the entry was changed")
	t.Log(err)

	// Changed and re-hashed: the next entry's prev gives it away.
	e.tamper(13, func(en *Entry) { en.Hash = entryHash(en) })
	wantVerifyError(t, Verify(e.ledger()), 14, "prev")

	// An entry removed: the one after the gap is named.
	e.tamper(5, nil)
	wantVerifyError(t, Verify(e.ledger()), 6, "seq 6 where 5 was expected")
}

func TestVerifySemantics(t *testing.T) {
	// Hashes that verify over amounts that do not add up.
	chain := func(es ...Entry) []Entry {
		prev := ""
		for i := range es {
			es[i].Seq, es[i].Time, es[i].Prev = uint64(i+1), t0, prev
			es[i].Hash = entryHash(&es[i])
			prev = es[i].Hash
		}
		return es
	}
	wantVerifyError(t, Verify(chain(
		Entry{Tenant: "acme", Kind: KindReferral},
		Entry{Tenant: "acme", Kind: KindRedeem, Amount: -1},
	)), 2, "below zero")
	wantVerifyError(t, Verify(chain(
		Entry{Tenant: "acme", Kind: KindGrant, Amount: 5},
	)), 1, "amount 5 is wrong for a grant")
	wantVerifyError(t, Verify(chain(
		Entry{Tenant: "acme", Kind: "gift", Amount: 1},
	)), 1, `unknown kind "gift"`)
	bad := chain(Entry{Tenant: "acme", Kind: KindReferral})
	bad[0].Prev = "00"
	wantVerifyError(t, Verify(bad), 1, "first entry's prev is empty")
}

func TestVerifyPartialAndSubset(t *testing.T) {
	e := ledgerEnv(t)
	full := e.ledger()
	part, err := e.s.ledger("beta")
	if err != nil {
		t.Fatal(err)
	}
	if len(part) != 6 || part[0].Seq != 1 || part[2].Seq != 14 {
		t.Fatalf("beta's entries: %+v", part)
	}
	if err := Verify(part); err == nil {
		t.Error("Verify passed one tenant's entries as a whole ledger")
	}
	if err := VerifyPartial(part); err != nil {
		t.Error(err)
	}
	if err := VerifySubset(part, full); err != nil {
		t.Error(err)
	}

	// An entry of the part rewritten consistently (its own hash
	// recomputed) still verifies alone, but not against the full ledger.
	forged := append([]Entry(nil), part...)
	forged[5].Note = "goodwill x2"
	forged[5].Amount = 2
	forged[5].Hash = entryHash(&forged[5])
	if err := VerifyPartial(forged); err != nil {
		t.Errorf("partial: %v", err)
	}
	wantVerifyError(t, VerifySubset(forged, full), forged[5].Seq, "full ledger's entry")

	// Out of order.
	swapped := append([]Entry(nil), part...)
	swapped[2], swapped[3] = swapped[3], swapped[2]
	wantVerifyError(t, VerifyPartial(swapped), swapped[3].Seq, "out of order")
}
