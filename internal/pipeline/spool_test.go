package pipeline

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	"github.com/careerrelay/careerrelay/store"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// largeMail is taggedMail with about 400 KB more text: past spoolAbove.
var largeMail = taggedMail + strings.Repeat("今後のご活躍を心よりお祈り申し上げます。採用担当\r\n", 400<<10/66)

// signed is a pipeline whose tenant signs with an Ed25519 key; its store
// (in dir) fails commits (not spool writes) while fail is set.
type signed struct {
	p      *Pipeline
	db     *store.DB
	dir    string
	fail   bool
	spools int // spool files finished
	tenant *configs.Tenant
	lookup func(string) ([]string, error) // the key's DNS record
}

func signedPipeline(t testing.TB) *signed {
	t.Helper()
	s := &signed{dir: t.TempDir()}
	db, err := store.Open(filepath.Join(s.dir, "q.db"), store.Options{Fault: func(op string) error {
		if op == "spool" {
			s.spools++
		}
		if s.fail && op == "commit" {
			return errors.New("disk full")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tenant := *acme
	// Two keys: both signatures go in front of the copy.
	tenant.DKIM = []configs.DKIMKey{{Selector: "s1", Signer: key}, {Selector: "s2", Signer: key}}
	cfg := &configs.Config{Links: testLinks, Tenants: []configs.Tenant{tenant}}
	p, err := New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	txt, err := dkim.TXTRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s.p, s.db, s.tenant = p, db, &cfg.Tenants[0]
	s.lookup = func(name string) ([]string, error) {
		if name != "s1._domainkey.acme.example" && name != "s2._domainkey.acme.example" {
			return nil, errors.New("no such record " + name)
		}
		return []string{txt}, nil
	}
	return s
}

// A message gets a personal link for each candidate, the generic link for
// the tenant's own address, everything else unchanged, and DKIM signatures
// that verify over the final bytes; past spoolAbove each copy is in its
// own spool file.
func TestCopiesAreSignedAndLargeOnesSpooled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mail    string
		spooled bool
	}{{"small", taggedMail, false}, {"large", largeMail, true}} {
		t.Run(tc.name, func(t *testing.T) { testCopiesSigned(t, tc.mail, tc.spooled) })
	}
}

func testCopiesSigned(t *testing.T, mail string, spooled bool) {
	s := signedPipeline(t)
	p, db := s.p, s.db
	env := Envelope{
		From: "hr@acme.example", Tenant: s.tenant, MessageID: "<r1@acme.example>", Received: time.Now(),
		Rcpts: []string{"Taro@Cand.example", "hanako@cand2.example", "archive@acme.example"},
	}
	ids, err := p.Accept(context.Background(), env, []byte(mail))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("%d copies, want 3", len(ids))
	}
	links := map[string]bool{}
	for _, id := range ids {
		var stored store.Body
		var m *store.Message
		db.View(func(tx *store.Tx) error {
			if m, err = tx.Get(id); err != nil {
				return err
			}
			stored, err = tx.Body(id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if stored.Spooled() != spooled {
			t.Errorf("copy %s of a %d-octet message: spooled %v, want %v", id, len(mail), stored.Spooled(), spooled)
		}
		b := rendered(t, p, m, stored)
		verifs, err := msgauth.VerifyWithOptions(bytes.NewReader(b), &msgauth.VerifyOptions{LookupTXT: s.lookup})
		if err != nil || len(verifs) != 2 || verifs[0].Err != nil || verifs[1].Err != nil {
			t.Fatalf("copy %s: DKIM verification %v %+v", id, err, verifs)
		}
		found := linkRE.FindAllString(string(b), -1)
		if len(found) != 1 {
			t.Fatalf("copy %s has %d links", id, len(found))
		}
		links[found[0]] = true
		rest := strings.Replace(string(b), found[0], "[[career-relay]]", 1)
		if !strings.HasPrefix(rest, "DKIM-Signature:") || !strings.HasSuffix(rest, mail) {
			t.Errorf("copy %s differs from the original beyond its signature and link", id)
		}
	}
	if len(links) != 3 {
		t.Errorf("links %v: want two personal and one generic", links)
	}
}

// When the commit fails, after the spool file was written, the file is
// removed and nothing is queued.
func TestLargeMessageCommitFailureLeavesNoSpoolFile(t *testing.T) {
	s := signedPipeline(t)
	s.fail = true
	env := Envelope{From: "hr@acme.example", Tenant: s.tenant, Rcpts: []string{"a@cand.example", "b@cand.example"}, Received: time.Now()}
	if _, err := s.p.Accept(context.Background(), env, []byte(largeMail)); err == nil {
		t.Fatal("Accept succeeded although the commit failed")
	}
	if s.spools != 1 {
		t.Fatalf("%d spool files written before the commit, want 1 (the body both copies share)", s.spools)
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("spool files left after a failed commit: %v", entries)
	}
	s.fail = false
	s.db.View(func(tx *store.Tx) error {
		if n := tx.QueueLen(); n != 0 {
			t.Errorf("%d messages queued after a failed commit", n)
		}
		return nil
	})
}
