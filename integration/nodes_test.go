package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// sharedNodes starts n relays on one private PostgreSQL server: each its
// own data_dir and queue, the same link key and privacy key, the shared
// records in the database.
func sharedNodes(t *testing.T, sinkAddr string, n int, mods ...func(string, *Config)) ([]*Relay, *testlib.Postgres) {
	t.Helper()
	pg := testlib.NewPostgres(t)
	dsn := pg.DSN
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, []byte(content+"\n"))
		return p
	}
	secret := func(name string) string {
		b := make([]byte, 32)
		rand.Read(b)
		return file(name, hex.EncodeToString(b))
	}
	dsnFile, linkKey, hashKey := file("pg.dsn", dsn), secret("link.key"), secret("privacy.key")
	var nodes []*Relay
	for range n {
		nodes = append(nodes, StartRelay(t, sinkAddr, append([]func(string, *Config){withLocalLinks, func(_ string, c *Config) {
			c.Store = &Store{Shared: SharedStore{Driver: "postgres", DSNFile: dsnFile}}
			c.Privacy = &Privacy{HashKeyFile: hashKey}
			c.Links.Keys[0].SecretFile = linkKey
		}}, mods...)...))
	}
	return nodes, pg
}

// onNode is link as served by node r: the same path on r's link host.
func onNode(t *testing.T, link string, from, to *Relay) string {
	t.Helper()
	out := strings.Replace(link, from.Config.Links.BaseURL, to.Config.Links.BaseURL, 1)
	if out == link && from != to {
		t.Fatalf("link %s is not on %s", link, from.Config.Links.BaseURL)
	}
	return out
}

// TestSharedStoreThreeNodes is spec §13 with three nodes on one
// PostgreSQL: mail comes in on node 1 and its link opens on node 2; 50
// concurrent consents of one candidate spread over the three nodes make
// one referral; 25 distinct candidates' consents spread over them make 2
// credits (one per 10); `ledger verify` passes on every node.
func TestSharedStoreThreeNodes(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	nodes, _ := sharedNodes(t, sink.Addr, 3)

	const one = "multi@cand.example"
	link := relayLinks(t, nodes[0], sink, one)[one]
	resp, page := get(t, http.MethodGet, onNode(t, link, nodes[0], nodes[1]), map[string]string{"User-Agent": personUA})
	if resp.StatusCode != http.StatusOK || !csrfRE.MatchString(page) {
		t.Fatalf("node 1's link on node 2: %s", resp.Status)
	}
	csrf, version := csrfRE.FindStringSubmatch(page)[1], versionRE.FindStringSubmatch(page)[1]
	form := url.Values{"csrf": {csrf}, "consent_version": {version}, "consent": {"on"}}.Encode()
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, onNode(t, link, nodes[0], nodes[i%3]), strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", personUA)
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Errorf("consent %d: %v", i, err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusSeeOther {
			t.Errorf("consent %d on node %d: %d, want 303", i, i%3+1, c)
		}
	}
	for i, r := range nodes {
		if b := fullBalance(t, r); b.Referrals != 1 {
			t.Errorf("node %d: %d referrals after 50 consents of one candidate, want 1", i+1, b.Referrals)
		}
	}

	var cands []string
	for i := range 24 {
		cands = append(cands, "multi"+string(rune('a'+i))+"@cand.example")
	}
	links := relayLinks(t, nodes[0], sink, cands...)
	var cwg sync.WaitGroup
	for i, c := range cands {
		l := onNode(t, links[c], nodes[0], nodes[i%3])
		cwg.Go(func() {
			if err := consentNow(l); err != nil {
				t.Errorf("consent of %s on node %d: %v", c, i%3+1, err)
			}
		})
	}
	cwg.Wait()
	for i, r := range nodes {
		if b := fullBalance(t, r); b.Referrals != 25 || b.Granted != 2 {
			t.Errorf("node %d: balance %+v, want 25 referrals and 2 credits", i+1, b)
		}
		out, code := runBinary(t, "ledger", "verify", "-config", r.ConfigPath, "-ready-file", r.ReadyPath)
		if code != 0 || !strings.Contains(out, "ledger OK: 27 entries") {
			t.Errorf("node %d: ledger verify: exit %d: %s", i+1, code, out)
		}
	}
}

// consentNow opens link and posts its ticked consent form, for use from
// goroutines (it fails nothing itself): the answer must be the 303 to the
// link.
func consentNow(link string) error {
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("User-Agent", personUA)
	resp, err := noRedirects.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	csrf, version := csrfRE.FindStringSubmatch(string(body)), versionRE.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || csrf == nil || version == nil {
		return fmt.Errorf("landing page: %s, no consent form", resp.Status)
	}
	form := url.Values{"csrf": {csrf[1]}, "consent_version": {version[1]}, "consent": {"on"}}.Encode()
	req, _ = http.NewRequest(http.MethodPost, link, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", personUA)
	resp, err = noRedirects.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("consent: %s, want 303", resp.Status)
	}
	return nil
}
