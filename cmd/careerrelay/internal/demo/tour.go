package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/server"
	"github.com/careerrelay/careerrelay/internal/web"
	gosmtp "github.com/emersion/go-smtp"
)

// tour is one run of the demo: what it set up and what it learnt so far.
type tour struct {
	w      io.Writer
	dir    string
	files  *files
	agency *agency
	cfg    *configs.Config
	ready  server.Ready
	base   string // links.base_url

	sent   []*sample
	copies []*captured
	links  map[string]string // candidate address -> personal link
}

func (t *tour) section(n int, ja, en string) {
	fmt.Fprintf(t.w, "\n== %d. %s / %s ==\n", n, ja, en)
}

func (t *tour) printf(format string, args ...any) { fmt.Fprintf(t.w, format, args...) }

func (t *tour) printSetup() {
	name, txt, err := t.files.dkimRecord()
	t.printf("folder      %s (config, generated secrets, store, captured mail)\n", t.dir)
	t.printf("tenant      %s %s, domain %s, tag %s, a credit per %d referrals\n", tenantID, tenantName, tenantDomain, tag, t.cfg.Tenants[0].ReferralsPerCredit)
	if err == nil {
		t.printf("DKIM        Ed25519 key, to publish as %s TXT \"%s\"\n", name, txt)
	}
	t.printf("agency      %s: registration page %s, webhook %s\n", agencyName, t.cfg.Agency.RegistrationURL, t.cfg.Agency.Webhook.URL)
	t.printf("relay       SMTP %s   pages and /metrics %s   admin API %s\n", t.ready.SMTP, t.base, t.ready.Admin)
	t.printf("delivery    capture: each delivered copy is written to %s\n", t.cfg.Delivery.CaptureDir)
}

// send hands the twelve sample mails to the relay over SMTP, as the
// company's ATS would with careerrelay as its smarthost.
func (t *tour) send(ctx context.Context) error {
	t.section(2, "送信", "The ATS sends 12 mails over SMTP")
	list, err := samples(time.Now())
	if err != nil {
		return err
	}
	c, err := gosmtp.Dial(t.ready.SMTP)
	if err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout, c.SubmissionTimeout = time.Until(dl), time.Until(dl)
	}
	if err := c.Hello("ats.demo.localhost"); err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	for i, s := range list {
		reply, err := sendOne(c, s)
		if err != nil {
			return fmt.Errorf("mail %d (%s): %w", i+1, s.kind, err)
		}
		to := s.to.name + " <" + s.to.addr + ">"
		if len(s.bcc) > 0 {
			to += " + " + strings.Join(s.bcc, ", ")
		}
		t.printf("%2d  %s → %s  250 %s\n", i+1, pad(s.kind, 42), pad(to, 46), reply)
	}
	c.Quit()
	t.sent = list
	return nil
}

func sendOne(c *gosmtp.Client, s *sample) (string, error) {
	if err := c.Mail(sender, nil); err != nil {
		return "", err
	}
	for _, r := range s.rcpts() {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	d, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := d.Write(s.data); err != nil {
		return "", err
	}
	resp, err := d.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

// delivered waits for every copy to be written and the queue to be empty,
// then tells what became of each mail.
func (t *tour) delivered(ctx context.Context) error {
	t.section(3, "配送", "Rewritten, signed, queued, delivered")
	want := 0
	for _, s := range t.sent {
		want += len(s.rcpts())
	}
	var q web.QueueReply
	for {
		names, _ := filepath.Glob(filepath.Join(t.cfg.Delivery.CaptureDir, "*.eml"))
		if len(names) >= want {
			if err := t.admin(ctx, "/api/queue", &q); err != nil {
				return err
			}
			if q.Count == 0 {
				break
			}
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %d delivered copies (%d so far): %w", want, len(names), err)
		}
	}
	copies, err := readCaptured(t.cfg.Delivery.CaptureDir, t.base)
	if err != nil {
		return err
	}
	t.copies = copies
	t.links = map[string]string{}
	personal, generic, untouched := 0, 0, 0
	for _, c := range copies {
		switch {
		case c.rawTag:
			return fmt.Errorf("%s still shows the tag %s", c.file, tag)
		case len(c.links) == 1:
			personal++
			t.links[c.deliveredTo] = c.links[0]
		case len(c.links) > 1:
			return fmt.Errorf("%s has %d personal links", c.file, len(c.links))
		case c.generic:
			generic++
		default:
			untouched++
		}
	}
	t.printf("%d copies in %s, one per recipient; queue empty (careerrelay queue: %d queued)\n", len(copies), t.cfg.Delivery.CaptureDir, q.Count)
	t.printf("  %2d with a personal link in place of %s (each candidate their own)\n", personal, tag)
	t.printf("  %2d with the generic link %s/t/%s (the HR archive inside %s: never counts)\n", generic, t.base, tenantID, tenantDomain)
	t.printf("  %2d untagged, passed on unchanged (still DKIM-signed for %s)\n", untouched, tenantDomain)
	if personal != 10 || generic != 1 || untouched != 2 {
		return fmt.Errorf("expected 10 personal, 1 generic and 2 untouched copies")
	}
	return nil
}

// showRewritten prints the first candidate's copy: header, decoded text,
// link, and whether its DKIM signature verifies.
func (t *tour) showRewritten(context.Context) error {
	t.section(4, "書き換え後のメール", "One rewritten mail, as the candidate receives it")
	var c *captured
	for _, x := range t.copies {
		if x.deliveredTo == candidates[0].addr {
			c = x
		}
	}
	if c == nil || len(c.texts) == 0 {
		return fmt.Errorf("no copy for %s", candidates[0].addr)
	}
	t.printf("file %s\n", c.file)
	for f := c.header.Fields(); f.Next(); {
		key := f.Key()
		if raw, err := f.Raw(); err == nil {
			key, _, _ = strings.Cut(string(raw), ":") // as written, not canonicalised
		}
		v, err := f.Text()
		if err != nil {
			v = f.Value()
		}
		t.printf("  %s: %s\n", key, cut(strings.Join(strings.Fields(v), " "), 100))
	}
	p := c.texts[0]
	t.printf("\n  本文 / body (%s, decoded from %s):\n", p.ctype, p.charset)
	for _, line := range strings.Split(strings.TrimRight(p.text, "\n"), "\n") {
		t.printf("  | %s\n", line)
	}
	t.printf("\nlink %s\n", c.links[0])
	t.printf("     (a signed token: key id, random send id, HMAC; no personal data in it)\n")
	vs, err := c.verifyDKIM(t.files.dkimPub)
	if err != nil {
		return fmt.Errorf("DKIM: %w", err)
	}
	for _, v := range vs {
		res := "pass"
		if v.Err != nil {
			res = "FAIL: " + v.Err.Error()
		}
		t.printf("DKIM d=%s s=%s: %s (signed after rewriting)\n", v.Domain, selector, res)
		if v.Err != nil {
			return fmt.Errorf("DKIM of %s: %w", c.file, v.Err)
		}
	}
	if len(vs) == 0 {
		return fmt.Errorf("%s carries no DKIM signature", c.file)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// admin GETs path from the admin API into v.
func (t *tour) admin(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.ready.Admin+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.files.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin API %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin API %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("admin API %s: %w", path, err)
	}
	return nil
}

func (a *agency) receive(w http.ResponseWriter, r *http.Request, secret []byte) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost || r.URL.Path != hookPath {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var p referral.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	select {
	case a.hooks <- hook{referralID: p.ReferralID, signed: referral.VerifySignature(secret, body, r.Header.Get(referral.SignatureHeader))}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// pad fills s with spaces to n columns of a terminal, where Japanese
// characters take two.
func pad(s string, n int) string {
	w := 0
	for _, r := range s {
		w++
		if r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 ||
			r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6) {
			w++
		}
	}
	if w >= n {
		return s
	}
	return s + strings.Repeat(" ", n-w)
}

// cut shortens s to n characters.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
