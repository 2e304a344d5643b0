package testlib

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// A Sink on a PipeListener works in a synctest bubble: a session idle
// past the sink's Timeout is closed by the sink, at once in real time.
func TestSinkOnPipeListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewPipeListener("sink.test:25")
		s := NewSink(t, &SinkOptions{Listener: l, Timeout: time.Hour})
		if s.Addr != "sink.test:25" {
			t.Errorf("Addr = %q", s.Addr)
		}
		conn, err := l.Dial(context.Background(), "tcp", "anything:25")
		if err != nil {
			t.Fatal(err)
		}
		c := gosmtp.NewClient(conn)
		defer c.Close()
		if err := c.SendMail("a@example.jp", []string{"b@example.net"}, strings.NewReader(testMessage("p1@example.jp"))); err != nil {
			t.Fatal(err)
		}
		if n := s.Count(); n != 1 {
			t.Fatalf("sink got %d messages, want 1", n)
		}
		start := time.Now()
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if err := c.Noop(); err != nil {
			t.Fatalf("session closed before the sink's timeout: %v", err)
		}
		time.Sleep(time.Hour + time.Second)
		if err := c.Noop(); err == nil {
			t.Fatal("session still open after the sink's timeout")
		}
		if d := time.Since(start); d < 2*time.Hour {
			t.Errorf("bubble time moved by %v", d)
		}
	})
}

// Dial fails once the listener is closed.
func TestPipeListenerClosed(t *testing.T) {
	l := NewPipeListener("x.test:25")
	l.Close()
	if _, err := l.Dial(context.Background(), "tcp", "x.test:25"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v, want net.ErrClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
