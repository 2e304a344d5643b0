package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

type sendConfig struct {
	Addr       string
	Conns      int
	Rcpts      int // recipients of each message (Bcc beyond the first)
	Messages   int
	From       string
	RcptDomain string
	Size       int
	Tag        string
	Helo       string
	Timeout    time.Duration
}

// SendResult is what `crload send` prints (-json gives these keys).
type SendResult struct {
	Addr          string  `json:"addr"`
	Conns         int     `json:"conns"`
	Messages      int     `json:"messages"`
	Rcpts         int     `json:"rcpts_per_message"`
	MessageBytes  int     `json:"message_bytes"`
	Accepted      int     `json:"accepted"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	Start         string  `json:"start"` // when the first connection was opened (RFC 3339, ns)
	End           string  `json:"end"`   // when the last reply was read
	ElapsedSec    float64 `json:"elapsed_s"`
	AcceptedPerS  float64 `json:"accepted_msg_per_s"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP90Ms  float64 `json:"latency_p90_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`
	LatencyMeanMs float64 `json:"latency_mean_ms"`
}

func runSend(args []string) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var c sendConfig
	fs.StringVar(&c.Addr, "addr", "", "SMTP server to load, HOST:PORT (plain SMTP, no AUTH)")
	fs.IntVar(&c.Conns, "conns", 20, "concurrent connections; each sends its share of the messages one after another")
	fs.IntVar(&c.Messages, "messages", 2000, "messages to send in all")
	fs.IntVar(&c.Rcpts, "rcpts", 1, "recipients of each message: the first in To:, the others as Bcc (a mass rejection)")
	fs.StringVar(&c.From, "from", "hr@acme.example", "envelope sender and From:")
	fs.StringVar(&c.RcptDomain, "rcpt-domain", "cand.example", "domain of the generated candidate recipients")
	fs.IntVar(&c.Size, "size", 10240, "approximate message size in octets")
	fs.StringVar(&c.Tag, "tag", "[[career-relay]]", "template tag written into the body")
	fs.StringVar(&c.Helo, "helo", "crload.localhost", "name sent in EHLO")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "per-command timeout")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.Addr == "" || c.Conns < 1 || c.Messages < 1 || c.Rcpts < 1 || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "crload send: -addr is required, -conns, -messages and -rcpts must be at least 1")
		fs.Usage()
		return 2
	}
	res, err := send(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crload send:", err)
		return 1
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
	} else {
		printSendResult(os.Stdout, res)
	}
	if res.Errors > 0 {
		return 1
	}
	return 0
}

func printSendResult(w io.Writer, r *SendResult) {
	fmt.Fprintf(w, "addr: %s\nconns: %d\nmessages: %d\nrcpts_per_message: %d\nmessage_bytes: %d\naccepted: %d\nerrors: %d\n",
		r.Addr, r.Conns, r.Messages, r.Rcpts, r.MessageBytes, r.Accepted, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first_error: %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "start: %s\nend: %s\n", r.Start, r.End)
	fmt.Fprintf(w, "elapsed_s: %.3f\naccepted_msg_per_s: %.1f\n", r.ElapsedSec, r.AcceptedPerS)
	fmt.Fprintf(w, "latency_p50_ms: %.2f\nlatency_p90_ms: %.2f\nlatency_p99_ms: %.2f\nlatency_max_ms: %.2f\nlatency_mean_ms: %.2f\n",
		r.LatencyP50Ms, r.LatencyP90Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.LatencyMeanMs)
}

// timedConn notes when the last write happened while armed: armed just
// before the DATA writer is closed, the last write is the one that carries
// the final ".\r\n", so the time from it to the reply is DATA-to-250.
type timedConn struct {
	net.Conn
	armed     bool
	lastWrite time.Time
}

func (c *timedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.armed {
		c.lastWrite = time.Now()
	}
	return n, err
}

func send(c sendConfig) (*SendResult, error) {
	c.Rcpts = max(c.Rcpts, 1)
	// Build one message up front to learn its size (they differ only in
	// names and ids).
	sample, err := buildMessage(c.From, "cand-0-0@"+c.RcptDomain, "sample@crload", c.Tag, c.Size, time.Now())
	if err != nil {
		return nil, err
	}
	var (
		next      atomic.Int64 // next message number to send
		accepted  atomic.Int64
		failures  atomic.Int64
		errOnce   sync.Once
		firstErr  string
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, c.Messages)
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		failures.Add(1)
		errOnce.Do(func() { firstErr = err.Error() })
	}
	runID := fmt.Sprintf("%x.%d", time.Now().UnixNano(), os.Getpid())
	start := time.Now()
	for w := 0; w < c.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				cl *smtp.Client
				tc *timedConn
			)
			closeConn := func() {
				if cl != nil {
					cl.Close()
					cl = nil
				}
			}
			defer func() {
				if cl != nil {
					cl.Quit()
					closeConn()
				}
			}()
			mine := make([]time.Duration, 0, c.Messages/c.Conns+1)
			defer func() {
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
			used := false
			for {
				n := next.Add(1) - 1
				if n >= int64(c.Messages) {
					return
				}
				if cl == nil {
					raw, err := net.DialTimeout("tcp", c.Addr, c.Timeout)
					if err != nil {
						fail(err)
						continue
					}
					tc = &timedConn{Conn: raw}
					cl = smtp.NewClient(tc)
					cl.CommandTimeout = c.Timeout
					cl.SubmissionTimeout = c.Timeout
					if err := cl.Hello(c.Helo); err != nil {
						fail(err)
						closeConn()
						continue
					}
					used = false
				}
				if used {
					if err := cl.Reset(); err != nil {
						fail(err)
						closeConn()
						continue
					}
				}
				used = true
				rcpts := make([]string, c.Rcpts)
				for k := range rcpts {
					rcpts[k] = fmt.Sprintf("cand-%d@%s", n, c.RcptDomain)
					if c.Rcpts > 1 {
						rcpts[k] = fmt.Sprintf("cand-%d-%d@%s", n, k, c.RcptDomain)
					}
				}
				msg, err := buildMessage(c.From, rcpts[0], fmt.Sprintf("%d.%s@crload.invalid", n, runID), c.Tag, c.Size, time.Now())
				if err != nil {
					fail(err)
					continue
				}
				lat, err := transaction(cl, tc, c.From, rcpts, msg)
				if err != nil {
					fail(err)
					var se *smtp.SMTPError
					if !errors.As(err, &se) { // I/O error: the connection is gone
						closeConn()
					}
					continue
				}
				accepted.Add(1)
				mine = append(mine, lat)
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	elapsed := end.Sub(start)

	res := &SendResult{
		Addr: c.Addr, Conns: c.Conns, Messages: c.Messages, Rcpts: c.Rcpts, MessageBytes: len(sample),
		Accepted: int(accepted.Load()), Errors: int(failures.Load()), FirstError: firstErr,
		Start: start.Format(time.RFC3339Nano), End: end.Format(time.RFC3339Nano),
		ElapsedSec: elapsed.Seconds(),
	}
	res.AcceptedPerS = float64(res.Accepted) / elapsed.Seconds()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		var sum time.Duration
		for _, l := range latencies {
			sum += l
		}
		res.LatencyP50Ms = ms(percentile(latencies, 50))
		res.LatencyP90Ms = ms(percentile(latencies, 90))
		res.LatencyP99Ms = ms(percentile(latencies, 99))
		res.LatencyMaxMs = ms(latencies[len(latencies)-1])
		res.LatencyMeanMs = ms(sum / time.Duration(len(latencies)))
	}
	return res, nil
}

// transaction sends one message on an open connection and returns the
// time from the final dot written to the 250 reply read.
func transaction(cl *smtp.Client, tc *timedConn, from string, rcpts []string, msg []byte) (time.Duration, error) {
	if err := cl.Mail(from, nil); err != nil {
		return 0, err
	}
	for _, rcpt := range rcpts {
		if err := cl.Rcpt(rcpt, nil); err != nil {
			return 0, err
		}
	}
	wc, err := cl.Data()
	if err != nil {
		return 0, err
	}
	if _, err := wc.Write(msg); err != nil {
		return 0, err
	}
	tc.armed = true
	tc.lastWrite = time.Time{}
	_, err = wc.CloseWithResponse()
	end := time.Now()
	tc.armed = false
	if err != nil {
		return 0, err
	}
	return end.Sub(tc.lastWrite), nil
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(d))+0.999999) - 1
	return d[max(0, min(rank, len(d)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
