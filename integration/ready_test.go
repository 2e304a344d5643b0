package integration

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestReadyFile: with every listener on port 0, `serve -ready-file` names
// four different bound addresses (Start reads and checks the file), each
// of which accepts connections; the file stays after kill -9, is removed
// by the next serve before it opens anything (here one that then fails to
// listen), and is removed by a clean stop.
func TestReadyFile(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(dir string, c *Config) {
		withTLSAuth(t, dir, c)
		c.SMTP.ListenTLS = "127.0.0.1:0"
	})
	addrs := []string{r.SMTPAddr, r.SMTPTLSAddr, r.HTTPAddr, r.AdminAddr}
	seen := map[string]bool{}
	for _, a := range addrs {
		if a == "" || seen[a] || !strings.HasPrefix(a, "127.0.0.1:") || !testlib.PortOpen(a) {
			t.Errorf("ready file addresses %q: want four different open ones on 127.0.0.1", addrs)
			break
		}
		seen[a] = true
	}

	r.Kill()
	if _, err := os.Stat(r.ReadyPath); err != nil {
		t.Fatalf("after kill -9 the ready file is gone: %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := *r.Config
	c.SMTP.Listen = busy.Addr().String()
	busyConfig := filepath.Join(r.Dir, "busy.yaml")
	writeConfig(t, busyConfig, &c)
	if out, code := runBinary(t, "serve", "-config", busyConfig, "-ready-file", r.ReadyPath); code != 1 {
		t.Errorf("serve on a busy smtp.listen: exit %d, want 1\n%s", code, out)
	}
	if _, err := os.Stat(r.ReadyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a serve that did not start left the last run's ready file (%v)", err)
	}

	r.Start()
	r.Stop() // checks that the file is gone
	if _, err := os.Stat(r.ReadyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a clean stop the ready file is still there (%v)", err)
	}
}
