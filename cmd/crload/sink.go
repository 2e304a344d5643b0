package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is a counting SMTP server: it accepts every sender, recipient and
// message, and keeps only counts and the times of the first and last
// delivery.
type sink struct {
	expect    int64
	done      chan struct{} // closed when expect messages arrived
	saveFirst string        // if set, the first message is written there

	mu         sync.Mutex
	messages   int64
	recipients int64
	bytes      int64
	first      time.Time
	last       time.Time
	doneOnce   sync.Once
	saved      bool
}

// SinkResult is what `crload sink` prints (-json gives these keys).
type SinkResult struct {
	Messages      int64   `json:"messages"`
	Recipients    int64   `json:"recipients"`
	Bytes         int64   `json:"bytes"`
	First         string  `json:"first,omitempty"`
	Last          string  `json:"last,omitempty"`
	SpanSec       float64 `json:"span_s"`
	DeliveredPerS float64 `json:"delivered_msg_per_s"`
}

func newSink(expect int64) *sink { return &sink{expect: expect, done: make(chan struct{})} }

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

func (s *sink) add(rcpts, n int64) {
	now := time.Now()
	s.mu.Lock()
	if s.messages == 0 {
		s.first = now
	}
	s.last = now
	s.messages++
	s.recipients += rcpts
	s.bytes += n
	reached := s.expect > 0 && s.messages >= s.expect
	s.mu.Unlock()
	if reached {
		s.doneOnce.Do(func() { close(s.done) })
	}
}

func (s *sink) result() SinkResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := SinkResult{Messages: s.messages, Recipients: s.recipients, Bytes: s.bytes}
	if s.messages > 0 {
		r.First = s.first.Format(time.RFC3339Nano)
		r.Last = s.last.Format(time.RFC3339Nano)
		r.SpanSec = s.last.Sub(s.first).Seconds()
		if s.messages > 1 && r.SpanSec > 0 {
			// n messages over the span from the first to the last: n-1
			// intervals.
			r.DeliveredPerS = float64(s.messages-1) / r.SpanSec
		}
	}
	return r
}

type sinkSession struct {
	s     *sink
	rcpts int64
}

func (ss *sinkSession) Reset()                               { ss.rcpts = 0 }
func (ss *sinkSession) Logout() error                        { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { ss.rcpts = 0; return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { ss.rcpts++; return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	var n int64
	var err error
	if ss.s.saveFirst != "" && ss.s.claimSave() {
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			n = int64(len(b))
			err = os.WriteFile(ss.s.saveFirst, b, 0o644)
		}
	} else {
		n, err = io.Copy(io.Discard, r)
	}
	if err != nil {
		return err
	}
	ss.s.add(ss.rcpts, n)
	return nil
}

// claimSave is true for the first message only.
func (s *sink) claimSave() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved {
		return false
	}
	s.saved = true
	return true
}

func newSinkServer(s *sink) *smtp.Server {
	srv := smtp.NewServer(s)
	srv.Domain = "sink.crload.localhost"
	srv.MaxMessageBytes = 1 << 30
	srv.MaxRecipients = 10000
	srv.MaxLineLength = 1 << 20
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	return srv
}

func runSink(args []string) int {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:2526", "address to accept SMTP on, HOST:PORT")
	expect := fs.Int64("expect", 0, "exit after this many messages arrived (0: run until SIGINT/SIGTERM)")
	every := fs.Duration("json-every", 0, "print the running counts as a JSON line at this interval (0: never)")
	asJSON := fs.Bool("json", false, "print the final result as one JSON object")
	saveFirst := fs.String("save-first", "", "write the first message received to this file (to check what the server sent)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crload sink:", err)
		return 1
	}
	s := newSink(*expect)
	s.saveFirst = *saveFirst
	srv := newSinkServer(s)
	go srv.Serve(l)
	fmt.Fprintf(os.Stderr, "crload sink: listening on %s\n", l.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-s.done:
			break loop
		case <-tick:
			json.NewEncoder(os.Stdout).Encode(s.result())
		}
	}
	// Let the 250 of the last message go out before closing.
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(shut)
	cancel()
	srv.Close()
	r := s.result()
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
	} else {
		fmt.Printf("messages: %d\nrecipients: %d\nbytes: %d\nfirst: %s\nlast: %s\nspan_s: %.3f\ndelivered_msg_per_s: %.1f\n",
			r.Messages, r.Recipients, r.Bytes, r.First, r.Last, r.SpanSec, r.DeliveredPerS)
	}
	return 0
}

func runFreePort(args []string) int {
	fs := flag.NewFlagSet("freeport", flag.ContinueOnError)
	n := fs.Int("n", 1, "how many distinct ports")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var ls []net.Listener
	for i := 0; i < *n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "crload freeport:", err)
			return 1
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return 0
}

func runWaitPort(args []string) int {
	fs := flag.NewFlagSet("waitport", flag.ContinueOnError)
	addr := fs.String("addr", "", "HOST:PORT to wait for")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" {
		fs.Usage()
		return 2
	}
	deadline := time.Now().Add(*timeout)
	for {
		c, err := net.DialTimeout("tcp", *addr, time.Second)
		if err == nil {
			c.Close()
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "crload waitport: nothing listens on %s after %s\n", *addr, *timeout)
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
}
