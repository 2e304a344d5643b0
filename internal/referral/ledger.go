package referral

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/careerrelay/careerrelay/store"
)

// maxNote bounds an operator's note, in bytes.
const maxNote = 1000

// canonical is e's JSON object without "hash", byte for byte as Python's
// json.dumps(e, sort_keys=True, separators=(",", ":")) writes it (see the
// package comment).
func canonical(e *Entry) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"amount":`...)
	b = strconv.AppendInt(b, int64(e.Amount), 10)
	b = append(b, `,"kind":`...)
	b = appendPyString(b, e.Kind)
	if e.Note != "" {
		b = append(b, `,"note":`...)
		b = appendPyString(b, e.Note)
	}
	b = append(b, `,"prev":`...)
	b = appendPyString(b, e.Prev)
	if e.ReferralID != "" {
		b = append(b, `,"referral_id":`...)
		b = appendPyString(b, e.ReferralID)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"tenant":`...)
	b = appendPyString(b, e.Tenant)
	b = append(b, `,"time":`...)
	b = appendPyString(b, timeString(e.Time))
	return append(b, '}')
}

// timeString is the time as the JSON export writes it.
func timeString(t time.Time) string { return t.Format(time.RFC3339Nano) }

// appendPyString appends s as a JSON string the way Python's json module
// does with ensure_ascii (its default).
func appendPyString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = u(u(b, r1), r2)
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}

// entryHash is hex(SHA-256(e.Prev + "\n" + canonical(e))).
func entryHash(e *Entry) string {
	h := sha256.New()
	h.Write([]byte(e.Prev))
	h.Write([]byte{'\n'})
	h.Write(canonical(e))
	return hex.EncodeToString(h.Sum(nil))
}

// checkText refuses text that would not survive an export unchanged
// (ErrBadText).
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadText, what)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%w: %s contains a control character (tab, line break…): write one line", ErrBadText, what)
	}
	if len(s) > maxNote {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrBadText, what, maxNote)
	}
	return nil
}

// appendEntry numbers e after the ledger's last entry, chains and hashes it
// and stores it. e.Time is stored in UTC, whole seconds.
func appendEntry(tx store.SharedTx, e *Entry) error {
	b := tx.Bucket(store.BucketLedger)
	e.Seq, e.Prev = 1, ""
	if k, v := b.Cursor().Last(); k != nil {
		var last Entry
		if err := json.Unmarshal(v, &last); err != nil {
			return fmt.Errorf("decode ledger entry %d: %w", binary.BigEndian.Uint64(k), err)
		}
		e.Seq, e.Prev = last.Seq+1, last.Hash
	}
	e.Time = e.Time.UTC().Truncate(time.Second)
	e.Hash = entryHash(e)
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry %d: %w", e.Seq, err)
	}
	return b.Put(seqKey(e.Seq), v)
}

// VerifyError names the first ledger entry that does not verify.
type VerifyError struct {
	Seq    uint64 // the entry's seq as written in it
	Index  int    // its position in the list checked, from 0
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("referral: ledger entry %d (position %d) does not verify: %s", e.Seq, e.Index+1, e.Reason)
}

func verify(entries []Entry, full bool) error {
	bad := func(i int, format string, args ...any) error {
		return &VerifyError{Seq: entries[i].Seq, Index: i, Reason: fmt.Sprintf(format, args...)}
	}
	available := map[string]int{}
	for i := range entries {
		e := &entries[i]
		switch {
		case full && e.Seq != uint64(i+1):
			return bad(i, "seq %d where %d was expected (an entry is missing, added or moved)", e.Seq, i+1)
		case !full && i > 0 && e.Seq <= entries[i-1].Seq:
			return bad(i, "seq %d after seq %d (entries out of order)", e.Seq, entries[i-1].Seq)
		case e.Seq == 0:
			return bad(i, "seq 0 (seqs start at 1)")
		}
		switch {
		case e.Seq == 1 && e.Prev != "":
			return bad(i, "prev %q, but the first entry's prev is empty", e.Prev)
		case i > 0 && e.Seq == entries[i-1].Seq+1 && e.Prev != entries[i-1].Hash:
			return bad(i, "prev %s is not the hash %s of entry %d", e.Prev, entries[i-1].Hash, entries[i-1].Seq)
		}
		if h := entryHash(e); h != e.Hash {
			return bad(i, "hash %s, but its fields hash to %s (the entry was changed)", e.Hash, h)
		}
		switch e.Kind {
		case KindReferral, KindGrant, KindRedeem, KindAdjust, KindVoid, KindRevoke:
		default:
			return bad(i, "unknown kind %q", e.Kind)
		}
		switch {
		case e.Kind == KindReferral && e.Amount != 0,
			e.Kind == KindGrant && e.Amount != 1,
			e.Kind == KindRedeem && e.Amount != -1,
			e.Kind == KindAdjust && e.Amount == 0,
			e.Kind == KindVoid && e.Amount != 0,
			e.Kind == KindRevoke && e.Amount != -1:
			return bad(i, "amount %d is wrong for a %s entry", e.Amount, e.Kind)
		case (e.Kind == KindVoid || e.Kind == KindRevoke) && e.ReferralID == "":
			return bad(i, "a %s entry without a referral_id", e.Kind)
		}
		if full {
			// Only a revoke may take a balance below zero (credits
			// owed); a redeem or a negative adjust must leave it at 0
			// or more. Entries that do not lower it are always fine.
			available[e.Tenant] += e.Amount
			if e.Amount < 0 && e.Kind != KindRevoke && available[e.Tenant] < 0 {
				return bad(i, "tenant %s's balance goes below zero (%d) by a %s", e.Tenant, available[e.Tenant], e.Kind)
			}
		}
	}
	return nil
}

// VerifyPartial checks entries that may be a part of the ledger, such as
// one tenant's export: each entry's hash matches its fields and its prev,
// seqs increase, and entries whose seqs follow each other chain. Only a
// full export (Verify, or VerifySubset against one) proves that nothing is
// missing.
func VerifyPartial(entries []Entry) error { return verify(entries, false) }

// VerifySubset checks part (e.g. one tenant's export) against full (the
// whole ledger): full verifies, part verifies by itself, and each of part's
// entries is the entry of full with its seq.
func VerifySubset(part, full []Entry) error {
	if err := Verify(full); err != nil {
		return fmt.Errorf("full ledger: %w", err)
	}
	if err := VerifyPartial(part); err != nil {
		return err
	}
	for i := range part {
		e := &part[i]
		if e.Seq > uint64(len(full)) {
			return &VerifyError{Seq: e.Seq, Index: i, Reason: fmt.Sprintf("not in the full ledger of %d entries", len(full))}
		}
		if f := &full[e.Seq-1]; f.Hash != e.Hash {
			return &VerifyError{Seq: e.Seq, Index: i, Reason: fmt.Sprintf("hash %s, but the full ledger's entry %d has %s", e.Hash, f.Seq, f.Hash)}
		}
	}
	return nil
}

func (s *Service) ledger(tenant string) ([]Entry, error) {
	var out []Entry
	err := s.sh.View(func(tx store.SharedTx) error {
		return tx.Bucket(store.BucketLedger).ForEach(func(k, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode ledger entry %x: %w", k, err)
			}
			if tenant == "" || e.Tenant == tenant {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referral: read ledger: %w", err)
	}
	return out, nil
}

func (s *Service) balance(tenant string) (*Balance, error) {
	if s.cfg.TenantByID(tenant) == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, tenant)
	}
	var c counts
	err := s.sh.View(func(tx store.SharedTx) error {
		var err error
		c, err = getCounts(tx, tenant)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("referral: balance: %w", err)
	}
	return c.balance(tenant), nil
}

func (s *Service) redeem(ctx context.Context, tenant, note string) (*Entry, error) {
	if s.cfg.TenantByID(tenant) == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, tenant)
	}
	note = strings.TrimSpace(note)
	if err := checkText("note", note); err != nil {
		return nil, err
	}
	return s.change(ctx, tenant, KindRedeem, -1, note)
}

// Adjust corrects a tenant's available credits by amount (positive or
// negative, not 0), recorded as an "adjust" entry with the operator's
// note, which is required. A negative correction that would leave the
// balance below zero is refused with ErrBelowZero; a positive one is taken
// even if the balance stays below zero (credits owed after a revoke).
func (s *Service) Adjust(ctx context.Context, tenant string, amount int, note string) (*Entry, error) {
	if s.cfg.TenantByID(tenant) == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, tenant)
	}
	if amount == 0 {
		return nil, fmt.Errorf("referral: adjust %s by 0: nothing to correct", tenant)
	}
	note = strings.TrimSpace(note)
	if note == "" {
		return nil, fmt.Errorf("referral: adjust %s: a note saying why is required", tenant)
	}
	if err := checkText("note", note); err != nil {
		return nil, err
	}
	return s.change(ctx, tenant, KindAdjust, amount, note)
}

// change appends a redeem or adjust entry, refusing one that lowers the
// balance below zero. An adjust upwards is taken even when the balance
// stays below zero (credits owed after a revoke, paid back in part).
func (s *Service) change(ctx context.Context, tenant, kind string, amount int, note string) (*Entry, error) {
	now := s.now()
	var e *Entry
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		e = nil
		btx := tx
		c, err := getCounts(btx, tenant)
		if err != nil {
			return err
		}
		if avail := c.available(); amount < 0 && avail+amount < 0 {
			if kind == KindRedeem {
				return fmt.Errorf("%w: tenant %s has %d available (granted %d, redeemed %d, adjusted %+d, revoked %d)",
					ErrNoCredit, tenant, avail, c.Granted, c.Redeemed, c.Adjusted, c.Revoked)
			}
			return fmt.Errorf("%w: tenant %s has %d available, adjusting by %+d would leave %d",
				ErrBelowZero, tenant, avail, amount, avail+amount)
		}
		if kind == KindRedeem {
			c.Redeemed++
		} else {
			c.Adjusted += amount
		}
		ne := &Entry{Time: now, Tenant: tenant, Kind: kind, Amount: amount, Note: note}
		if err := appendEntry(btx, ne); err != nil {
			return err
		}
		if err := putCounts(btx, tenant, c); err != nil {
			return err
		}
		e = ne
		return nil
	})
	if errors.Is(err, ErrNoCredit) || errors.Is(err, ErrBelowZero) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("referral: %s: %w", kind, err)
	}
	s.log.Info("ledger "+kind, "tenant", tenant, "amount", amount, "seq", e.Seq)
	return e, nil
}
