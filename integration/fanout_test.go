package integration

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
	gosmtp "github.com/emersion/go-smtp"
)

// TestMassRejectionStoredOnce: a tagged rejection of about 250 KB and one
// past the spool size (a spool file), each to 40 candidates, as HR sends
// them (Bcc). While the next hop defers everything, the store holds each
// body once: it grows by less than 5 times the octets received, not by
// 40 times. Then every copy arrives with its own personal link, and the
// sink check verifies its DKIM signatures (go-msgauth and python3-dkim).
func TestMassRejectionStoredOnce(t *testing.T) {
	t.Parallel()
	var hold atomic.Bool
	hold.Store(true)
	sink := newSink(t, &testlib.SinkOptions{RcptReply: func(string) error {
		if hold.Load() {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "held by the test"}
		}
		return nil
	}})
	r := StartRelay(t, sink.Addr)
	dataDir := r.Config.DataDir
	before := dirSize(t, dataDir)

	// 40 recipients keep the test quick under the race detector, where
	// rendering and signing a copy of 300 KB takes a second; stored per
	// recipient, the copies would take 40 times the octets received.
	const rcpts = 40
	var received int
	for _, size := range []int{250_000, 300_000} {
		var to []string
		for i := range rcpts {
			to = append(to, fmt.Sprintf("cand%d-%d@example.net", size, i))
		}
		body := "ご応募ありがとうございました。\nキャリア相談のご案内: [[career-relay]]\n" + filler(size)
		data, _ := newMessage(tenantSender, "undisclosed-recipients:;", "選考結果のご連絡", body)
		if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, to, data); err != nil {
			t.Fatalf("send %d octets to %d: %v", len(data), rcpts, err)
		}
		received += len(data)
	}
	// Every copy is in the store now (the next hop refuses them all).
	grown := dirSize(t, dataDir) - before
	t.Logf("%d octets received for %d copies; the store grew by %d octets (%.2fx)", received, 2*rcpts, grown, float64(grown)/float64(received))
	if grown > 5*int64(received) {
		t.Errorf("the store grew by %d octets for %d received: more than 5x, so copies are stored per recipient", grown, received)
	}

	hold.Store(false)
	msgs := sink.WaitForCount(t, 2*rcpts, 3*deliveryTimeout)
	links := map[string]string{}
	for _, m := range msgs {
		if len(m.Rcpts) != 1 {
			t.Fatalf("a copy went to %v", m.Rcpts)
		}
		if strings.Contains(string(m.Data), "[[career-relay]]") {
			t.Errorf("the copy to %s still holds the tag", m.Rcpts[0])
		}
		found := linkRE.FindAllStringSubmatch(string(m.Data), -1)
		if len(found) != 1 || found[0][1] != "c" {
			t.Fatalf("the copy to %s has links %v, want one personal link", m.Rcpts[0], found)
		}
		if other, dup := links[found[0][0]]; dup {
			t.Errorf("%s and %s got the same link", other, m.Rcpts[0])
		}
		links[found[0][0]] = m.Rcpts[0]
	}
	if len(links) != 2*rcpts {
		t.Errorf("%d different personal links for %d copies", len(links), 2*rcpts)
	}
}

// filler is about n octets of Japanese text in lines.
func filler(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%05d 今後のご活躍を心よりお祈り申し上げます。\n", i)
	}
	return b.String()
}

// dirSize is the size of the files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
