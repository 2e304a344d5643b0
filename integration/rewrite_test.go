package integration

import (
	"regexp"
	"strings"
	"testing"
)

var linkRE = regexp.MustCompile(`https://careers\.acme\.example/(c|t)/([A-Za-z0-9._-]+)`)

// TestRewriteThroughRelay: a tagged mail to two candidates and one address
// of the tenant's domain reaches the upstream as two copies with different
// personal links and one copy with the generic link; an untagged mail is
// delivered with its body unchanged.
func TestRewriteThroughRelay(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr)

	body := "ご応募ありがとうございました。\n今後のキャリアのご相談はこちら: [[career-relay]]\n"
	data, id := newMessage(tenantSender, "candidates@list.example", "選考結果のご連絡", body)
	rcpts := []string{"taro@cand1.example", "hanako@cand2.example", "archive@" + tenantDomain}
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, rcpts, data); err != nil {
		t.Fatalf("send tagged: %v", err)
	}
	plain, plainID := newMessage(tenantSender, "c@cand3.example", "面接日程", "面接は11月30日です。\n")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{"c@cand3.example"}, plain); err != nil {
		t.Fatalf("send untagged: %v", err)
	}

	msgs := sink.WaitForCount(t, 4, deliveryTimeout)
	personal := map[string]string{}
	var generic []string
	for _, m := range msgs {
		if m.MessageID == plainID {
			if !strings.HasSuffix(string(m.Data), string(plain)) {
				t.Errorf("untagged mail changed on the way:\n%s", m.Data)
			}
			continue
		}
		if m.MessageID != id {
			t.Fatalf("unexpected message %q", m.MessageID)
		}
		if strings.Contains(string(m.Data), "[[career-relay]]") {
			t.Errorf("copy to %v still holds the tag", m.Rcpts)
		}
		links := linkRE.FindAllStringSubmatch(string(m.Data), -1)
		if len(links) != 1 {
			t.Fatalf("copy to %v has %d links:\n%s", m.Rcpts, len(links), m.Data)
		}
		if links[0][1] == "t" {
			generic = append(generic, m.Rcpts...)
			if links[0][2] != tenantID {
				t.Errorf("generic link %s, want /t/%s", links[0][0], tenantID)
			}
			continue
		}
		if len(m.Rcpts) != 1 {
			t.Fatalf("a personal link went to %v", m.Rcpts)
		}
		personal[m.Rcpts[0]] = links[0][0]
	}
	if len(personal) != 2 || personal[rcpts[0]] == "" || personal[rcpts[1]] == "" || personal[rcpts[0]] == personal[rcpts[1]] {
		t.Errorf("personal links %v: want two different ones for the two candidates", personal)
	}
	if len(generic) != 1 || generic[0] != rcpts[2] {
		t.Errorf("generic link went to %v, want [%s]", generic, rcpts[2])
	}
}
