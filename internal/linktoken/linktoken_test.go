package linktoken

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

func testKeys(t *testing.T, ids ...string) *Keys {
	t.Helper()
	var cfg []configs.LinkKey
	for _, id := range ids {
		cfg = append(cfg, configs.LinkKey{ID: id, Secret: bytes.Repeat([]byte(id[:1]), 32)})
	}
	k, err := NewKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenRoundTrip(t *testing.T) {
	k := testKeys(t, "k1")
	id := NewSendID()
	tok := k.Mint(id)
	got, err := k.Verify(tok)
	if err != nil || got != id {
		t.Fatalf("Verify(%q) = %x, %v; want %x", tok, got, err, id)
	}
	if !strings.HasPrefix(tok, "k1.") || len(tok) != len("k1.")+38 {
		t.Errorf("token %q: want k1. and 38 base64url characters", tok)
	}
}

// TestTokenTamperingAnyByteFails changes every byte of a token to every
// other URL-safe character: no changed token verifies.
func TestTokenTamperingAnyByteFails(t *testing.T) {
	k := testKeys(t, "k1", "k2")
	tok := k.Mint(NewSendID())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for i := range len(tok) {
		for _, c := range []byte(alphabet) {
			if c == tok[i] {
				continue
			}
			bad := []byte(tok)
			bad[i] = c
			if _, err := k.Verify(string(bad)); !errors.Is(err, ErrBadToken) {
				t.Fatalf("token with byte %d changed to %q verified: %s", i, c, bad)
			}
		}
	}
	for _, bad := range []string{"", ".", "k1.", tok + "A", tok[:len(tok)-1], "k1" + tok[2:] + "=="} {
		if _, err := k.Verify(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Verify(%q) did not fail", bad)
		}
	}
}

func TestTokenRotation(t *testing.T) {
	old := testKeys(t, "old")
	tok := old.Mint(NewSendID())
	rotated := testKeys(t, "new", "old") // new signs, old still verifies
	if _, err := rotated.Verify(tok); err != nil {
		t.Fatalf("token of a retired-but-listed key: %v", err)
	}
	if !strings.HasPrefix(rotated.Mint(NewSendID()), "new.") {
		t.Error("the first key does not sign")
	}
	dropped := testKeys(t, "new")
	if _, err := dropped.Verify(tok); !errors.Is(err, ErrBadToken) {
		t.Error("a token of a key no longer listed verified")
	}
	// Same id, other secret: a key id alone proves nothing.
	impostor, _ := NewKeys([]configs.LinkKey{{ID: "old", Secret: bytes.Repeat([]byte("x"), 32)}})
	if _, err := impostor.Verify(tok); !errors.Is(err, ErrBadToken) {
		t.Error("a token verified under another secret with the same key id")
	}
}

// TestTokenCarriesNoPersonalData: the token is a function of the key id,
// random bits and a MAC only; minting for the same send id twice gives the
// same token, and nothing of a recipient goes in.
func TestTokenCarriesNoPersonalData(t *testing.T) {
	k := testKeys(t, "k1")
	id := NewSendID()
	if first, again := k.Mint(id), k.Mint(id); first != again {
		t.Error("minting is not a function of the send id alone")
	}
	raw, err := b64.DecodeString(strings.TrimPrefix(k.Mint(id), "k1."))
	if err != nil || !bytes.Equal(raw[:sendIDLen], id[:]) || len(raw) != sendIDLen+macLen {
		t.Errorf("token payload is not send id + MAC: %x", raw)
	}
	if a, b := NewSendID(), NewSendID(); a == b {
		t.Error("two random send ids are equal")
	}
}

// TestSendIDsSortByTime: an id made in a later second sorts after one made
// earlier, as bytes and as the store's hex key, and ids of one second
// differ.
func TestSendIDsSortByTime(t *testing.T) {
	defer func(old func() time.Time) { now = old }(now)
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	now = func() time.Time { return at }
	a, b := NewSendID(), NewSendID()
	if a == b {
		t.Fatal("two ids of one second are equal")
	}
	at = at.Add(time.Second)
	c := NewSendID()
	for _, earlier := range []SendID{a, b} {
		if bytes.Compare(earlier[:], c[:]) >= 0 || earlier.String() >= c.String() {
			t.Errorf("id %s of an earlier second does not sort before %s", earlier, c)
		}
	}
	if got := binary.BigEndian.Uint32(c[:4]); int64(got) != at.Unix() {
		t.Errorf("id's second %d, want %d", got, at.Unix())
	}
}
