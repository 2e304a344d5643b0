package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

const apiKey = "integration-test-api-key-0123456789abcdef"

// withAPIKey gives the tenant an API key.
func withAPIKey(_ string, c *Config) {
	sum := sha256.Sum256([]byte(apiKey))
	c.Tenants[0].APIKeys = []APIKey{{ID: "ats1", SHA256: hex.EncodeToString(sum[:])}}
}

// postMessage submits data over the tenant API and returns the status and
// the body.
func postMessage(t *testing.T, base, tenant, key, from string, to []string, data []byte) (int, string) {
	t.Helper()
	q := url.Values{"from": {from}, "to": to}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/tenants/"+tenant+"/messages?"+q.Encode(), strings.NewReader(string(data)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "message/rfc822")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAPIMessageRewrittenSignedAndDurable: a rejection submitted over HTTP
// with the tenant's key arrives rewritten (a personal link per candidate)
// and DKIM-signed (the sink check verifies it with go-msgauth and
// python3-dkim); a message of another sender is refused with nothing
// queued; and a kill -9 right after the 202 loses nothing.
func TestAPIMessageRewrittenSignedAndDurable(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withAPIKey)
	base := "http://" + r.HTTPAddr
	data, id := newMessage(tenantSender, "undisclosed-recipients:;", "選考結果のご連絡", "ご応募ありがとうございました。\nキャリア相談: [[career-relay]]\n")
	code, body := postMessage(t, base, tenantID, apiKey, tenantSender, []string{"taro@cand1.example", "hanako@cand2.example"}, data)
	var resp struct {
		QueueIDs []string `json:"queue_ids"`
	}
	if code != http.StatusAccepted || json.Unmarshal([]byte(body), &resp) != nil || len(resp.QueueIDs) != 2 {
		t.Fatalf("submit: %d %s", code, body)
	}
	msgs := sink.WaitForCount(t, 2, deliveryTimeout)
	links := map[string]bool{}
	for _, m := range msgs {
		if m.MessageID != id {
			t.Fatalf("unexpected message %q", m.MessageID)
		}
		found := linkRE.FindAllStringSubmatch(string(m.Data), -1)
		if len(found) != 1 || found[0][1] != "c" || !strings.Contains(string(m.Data), "with HTTPS") {
			t.Fatalf("copy to %v: links %v", m.Rcpts, found)
		}
		links[found[0][0]] = true
	}
	if len(links) != 2 {
		t.Errorf("%d different links for two candidates", len(links))
	}

	// Another domain's sender: refused, nothing queued.
	foreign, _ := newMessage("hr@beta.example", "c@cand3.example", "x", "[[career-relay]]\n")
	if code, body := postMessage(t, base, tenantID, apiKey, "hr@beta.example", []string{"c@cand3.example"}, foreign); code != http.StatusForbidden {
		t.Errorf("another tenant's sender: %d %s", code, body)
	}
	if code, _ := postMessage(t, base, tenantID, "wrong-key", tenantSender, []string{"c@cand3.example"}, data); code != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", code)
	}

	// kill -9 right after the 202, while the next hop still defers it: the
	// copy was only in the store, and is delivered after the restart.
	var held atomic.Bool
	held.Store(true)
	sink.SetRcptReply(func(to string) error {
		if held.Load() && to == "jiro@cand4.example" {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "held by the test"}
		}
		return nil
	})
	durable, durableID := newMessage(tenantSender, "jiro@cand4.example", "選考結果", "[[career-relay]]\n")
	if code, body := postMessage(t, base, tenantID, apiKey, tenantSender, []string{"jiro@cand4.example"}, durable); code != http.StatusAccepted {
		t.Fatalf("submit before the kill: %d %s", code, body)
	}
	r.Kill()
	if n := sink.ByMessageID()[durableID]; n != 0 {
		t.Fatalf("delivered before the kill although held")
	}
	held.Store(false)
	r.Start()
	sink.WaitForCount(t, 3, 3*deliveryTimeout)
	if sink.ByMessageID()[durableID] != 1 {
		t.Errorf("the message answered 202 before the kill was not delivered once")
	}
}
