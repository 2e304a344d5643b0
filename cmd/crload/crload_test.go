package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

func TestBuildMessage(t *testing.T) {
	msg, err := buildMessage("hr@acme.example", "cand-1@cand.example", "1.x@crload.invalid", "[[career-relay]]", 10240, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(msg); n < 9000 || n > 10240 {
		t.Errorf("size %d, want about 10240", n)
	}
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line %d has %d octets", i, len(line))
		}
		for _, b := range line {
			if b >= 0x80 || b == '\r' || b == '\n' {
				t.Fatalf("line %d is not 7bit: %q", i, line)
			}
		}
	}
	for _, want := range []string{"Message-ID: <1.x@crload.invalid>\r\n", "charset=ISO-2022-JP", "\r\n[[career-relay]]\r\n", "To: <cand-1@cand.example>"} {
		if !bytes.Contains(msg, []byte(want)) {
			t.Errorf("message lacks %q", want)
		}
	}
	_, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	text, err := japanese.ISO2022JP.NewDecoder().Bytes(body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "選考を重ねました") {
		t.Errorf("body does not decode to the Japanese text: %.200s", text)
	}
}

func TestSendToSink(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	s := newSink(n)
	srv := newSinkServer(s)
	go srv.Serve(l)
	defer srv.Close()

	res, err := send(sendConfig{Addr: l.Addr().String(), Conns: 4, Messages: n, From: "hr@acme.example",
		RcptDomain: "cand.example", Size: 10240, Tag: "[[career-relay]]", Helo: "test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != n || res.Errors != 0 {
		t.Fatalf("accepted %d, errors %d (%s)", res.Accepted, res.Errors, res.FirstError)
	}
	if res.LatencyP50Ms <= 0 || res.LatencyP99Ms < res.LatencyP50Ms {
		t.Errorf("latencies p50 %v p99 %v", res.LatencyP50Ms, res.LatencyP99Ms)
	}
	// start and end are what bench/e2e.sh measures delivery from.
	start, err1 := time.Parse(time.RFC3339Nano, res.Start)
	end, err2 := time.Parse(time.RFC3339Nano, res.End)
	if err1 != nil || err2 != nil || end.Before(start) {
		t.Errorf("start %q end %q: %v %v", res.Start, res.End, err1, err2)
	}
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		t.Fatal("sink did not count every message")
	}
	r := s.result()
	if r.Messages != n || r.Recipients != n || r.Bytes < n*9000 {
		t.Errorf("sink counted %+v", r)
	}
}

func TestPercentile(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i + 1)
	}
	if p := percentile(d, 50); p != 50 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(d, 99); p != 99 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(d[:1], 99); p != 1 {
		t.Errorf("p99 of one = %d", p)
	}
}

// TestSendManyRecipients: -rcpts sends each message to that many
// recipients in one transaction (a mass rejection).
func TestSendManyRecipients(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n, rcpts = 3, 5
	s := newSink(n)
	srv := newSinkServer(s)
	go srv.Serve(l)
	defer srv.Close()
	res, err := send(sendConfig{Addr: l.Addr().String(), Conns: 1, Messages: n, Rcpts: rcpts, From: "hr@acme.example",
		RcptDomain: "cand.example", Size: 2048, Tag: "[[career-relay]]", Helo: "test", Timeout: 5 * time.Second})
	if err != nil || res.Accepted != n || res.Rcpts != rcpts {
		t.Fatalf("send: %+v, %v", res, err)
	}
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		t.Fatal("sink did not count every message")
	}
	if r := s.result(); r.Messages != n || r.Recipients != n*rcpts {
		t.Errorf("sink counted %+v, want %d messages to %d recipients", r, n, n*rcpts)
	}
}

func TestSampleValue(t *testing.T) {
	page := `# HELP go_memstats_alloc_bytes_total Total number of bytes allocated.
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total 1.2345678e+07
go_memstats_alloc_bytes_total_extra 1
careerrelay_messages_total{result="accepted"} 3
`
	v, ok, err := sampleValue(strings.NewReader(page), "go_memstats_alloc_bytes_total")
	if err != nil || !ok || v != "1.2345678e+07" {
		t.Fatalf("sampleValue = %q, %v, %v; want 1.2345678e+07", v, ok, err)
	}
	if _, ok, _ := sampleValue(strings.NewReader(page), "careerrelay_messages_total"); ok {
		t.Fatal("a labelled sample was taken for the unlabelled name")
	}
}
