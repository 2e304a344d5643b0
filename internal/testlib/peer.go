package testlib

import (
	"fmt"
	"net"
	"testing"
)

// Greeter starts a server on a free port of 127.0.0.1 that writes line and
// CRLF to every connection and hangs up, and returns its address: an SMTP
// peer that turns every client away at the greeting ("421 4.3.2 busy"),
// which a Sink, always greeting with 220, cannot be. It stops when the
// test that made it ends.
func Greeter(t testing.TB, line string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testlib: greeter listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\r\n", line)
			c.Close()
		}
	}()
	return l.Addr().String()
}
