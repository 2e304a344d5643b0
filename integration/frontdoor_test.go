package integration

import (
	"io"
	"net"
	"sync"
	"testing"
)

// startFrontDoor listens on a port of 127.0.0.1 that the system picks and
// passes every connection on to target(), the address of the moment (a
// relay's HTTP listener, which moves with every restart). A connection
// that comes while target() is "" (no relay runs) is closed. It returns
// the address it listens on; it stops when the test ends.
func startFrontDoor(t *testing.T, target func() string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("front door: %v", err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool // the test ended: close what comes
		wg     sync.WaitGroup
	)
	// track registers c for the cleanup, or closes it when that has run.
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
			return
		}
		conns[c] = true
	}
	untrack := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		delete(conns, c)
		c.Close()
	}
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			track(in)
			wg.Go(func() {
				defer untrack(in)
				addr := target()
				if addr == "" {
					return
				}
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				track(out)
				defer untrack(out)
				// Either side's end ends both: HTTP needs no half-close.
				copied := make(chan struct{}, 2)
				go func() { io.Copy(out, in); copied <- struct{}{} }()
				go func() { io.Copy(in, out); copied <- struct{}{} }()
				<-copied
				in.Close()
				out.Close()
				<-copied
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
