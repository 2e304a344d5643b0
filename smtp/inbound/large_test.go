package inbound

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/careerrelay/careerrelay/internal/spill"
)

// A message past spill.DefaultLimit is held in an unlinked file while it
// is received, and reaches the pipeline exactly as a small one would:
// Received first, a Message-ID added when missing, bare LFs made CRLF.
func TestLargeMessageIsSpilledAndArrivesWhole(t *testing.T) {
	for _, withID := range []bool{true, false} {
		t.Run(map[bool]string{true: "with Message-ID", false: "without Message-ID"}[withID], func(t *testing.T) {
			rec := &recorder{}
			cfg := testConfig("127.0.0.0/8")
			cfg.SMTP.MaxMessageBytes = 4 << 20
			var files atomic.Int32
			addr := startServerWith(t, cfg, rec, func(s *Server) {
				s.tempFile = func() (*os.File, error) {
					files.Add(1)
					return spill.TempFile()
				}
			})

			head := "From: hr@acme.example\r\nTo: c@cand.example\r\nSubject: big\r\n"
			if withID {
				head += "Message-ID: <big@acme.example>\r\n"
			}
			// 1 MiB of lines, every 7th with a bare LF.
			var body strings.Builder
			for i := 0; body.Len() < 1<<20; i++ {
				body.WriteString("0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdefghijklmnopqrstuvwxyz")
				if i%7 == 0 {
					body.WriteString("\n")
				} else {
					body.WriteString("\r\n")
				}
			}
			sent := head + "\r\n" + body.String()
			if err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, sent); err != nil {
				t.Fatalf("send: %v", err)
			}
			if files.Load() != 1 {
				t.Errorf("%d temporary files made for a 1 MiB message, want 1", files.Load())
			}
			got := string(rec.msgs[0])
			want := strings.ReplaceAll(strings.ReplaceAll(sent, "\r\n", "\n"), "\n", "\r\n")
			if !withID {
				id := rec.envs[0].MessageID
				if !strings.HasSuffix(id, "@relay.test>") {
					t.Fatalf("Message-ID %q, want one made by relay.test", id)
				}
				want = "Message-ID: " + id + "\r\n" + want
			} else if rec.envs[0].MessageID != "<big@acme.example>" {
				t.Errorf("Message-ID %q", rec.envs[0].MessageID)
			}
			i := strings.Index(got, "\r\n\t") // the Received field is folded
			if !strings.HasPrefix(got, "Received: from ") || i < 0 {
				t.Fatalf("no Received field first: %.200q", got)
			}
			if !strings.HasSuffix(got, want) {
				t.Errorf("the message changed beyond the added fields (got %d octets, want %d after Received)", len(got), len(want))
			}
		})
	}
}
