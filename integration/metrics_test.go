package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/testlib"
)

// scrape fetches /metrics and returns every sample by its series as
// written ("name" or `name{label="value",...}`), and the raw text.
func scrape(t *testing.T, addr string) (map[string]float64, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		// A timestamp may follow the value.
		if j := strings.LastIndexByte(series, ' '); j >= 0 && !strings.HasSuffix(series, "}") {
			series, value = series[:j], series[j+1:]
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Errorf("/metrics: cannot parse %q", line)
			continue
		}
		samples[series] = v
	}
	return samples, string(body)
}

// waitQueueDrained waits until the relay's queue is empty: whatever it
// accepted has been delivered (or bounced), so nothing more can reach a sink.
// Tests use it to prove that a message did not arrive, without a sleep.
func waitQueueDrained(t *testing.T, r *Relay) {
	t.Helper()
	testlib.WaitFor(t, deliveryTimeout, "the relay's queue to drain", func() bool {
		s, _ := scrape(t, r.HTTPAddr)
		v, ok := s["careerrelay_queue_messages"]
		return ok && v == 0
	})
}

func wantSample(t *testing.T, samples map[string]float64, series string, want float64) {
	t.Helper()
	got, ok := samples[series]
	switch {
	case !ok:
		t.Errorf("/metrics lacks %s", series)
	case got != want:
		t.Errorf("/metrics: %s = %v, want %v", series, got, want)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr)

	samples, text := scrape(t, r.HTTPAddr)
	before := t.Failed()
	wantSample(t, samples, fmt.Sprintf(`careerrelay_smtp_messages_received_total{tenant=%q}`, tenantID), 0)
	for _, reason := range metrics.RejectReasons {
		wantSample(t, samples, fmt.Sprintf(`careerrelay_smtp_rejected_total{reason=%q}`, reason), 0)
	}
	for _, result := range []string{"delivered", "deferred", "bounced"} {
		wantSample(t, samples, fmt.Sprintf(`careerrelay_delivery_attempts_total{result=%q}`, result), 0)
		wantSample(t, samples, fmt.Sprintf(`careerrelay_delivery_duration_seconds_count{result=%q}`, result), 0)
		wantSample(t, samples, fmt.Sprintf(`careerrelay_delivery_duration_seconds_sum{result=%q}`, result), 0)
	}
	wantSample(t, samples, "careerrelay_queue_messages", 0)
	for _, prefix := range []string{"go_", "process_"} {
		found := false
		for s := range samples {
			found = found || strings.HasPrefix(s, prefix)
		}
		if !found {
			t.Errorf("/metrics has no %s* metric", prefix)
		}
	}
	if !before && t.Failed() {
		t.Logf("/metrics at start:\n%s", text)
	}

	data, id := newMessage(tenantSender, candidate, "metrics", "hello")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data); err != nil {
		t.Fatalf("send: %v", err)
	}
	wantOnlyDelivery(t, sink, id)

	// The counters are updated around the delivery; give them a moment.
	moved := func(s map[string]float64) bool {
		return s[fmt.Sprintf(`careerrelay_smtp_messages_received_total{tenant=%q}`, tenantID)] == 1 &&
			s[`careerrelay_delivery_attempts_total{result="delivered"}`] == 1 &&
			s[`careerrelay_delivery_duration_seconds_count{result="delivered"}`] == 1 &&
			s["careerrelay_queue_messages"] == 0
	}
	testlib.Poll(5*time.Second, func() bool {
		s, _ := scrape(t, r.HTTPAddr)
		return moved(s)
	})
	samples, text = scrape(t, r.HTTPAddr)
	before = t.Failed()
	wantSample(t, samples, fmt.Sprintf(`careerrelay_smtp_messages_received_total{tenant=%q}`, tenantID), 1)
	wantSample(t, samples, `careerrelay_delivery_attempts_total{result="delivered"}`, 1)
	wantSample(t, samples, `careerrelay_delivery_attempts_total{result="deferred"}`, 0)
	wantSample(t, samples, `careerrelay_delivery_attempts_total{result="bounced"}`, 0)
	wantSample(t, samples, `careerrelay_delivery_duration_seconds_count{result="delivered"}`, 1)
	if s := samples[`careerrelay_delivery_duration_seconds_sum{result="delivered"}`]; s <= 0 {
		t.Errorf(`careerrelay_delivery_duration_seconds_sum{result="delivered"} = %v, want > 0`, s)
	}
	wantSample(t, samples, "careerrelay_queue_messages", 0)
	if !before && t.Failed() {
		t.Logf("/metrics after one delivery:\n%s", text)
	}
}

// TestMetricsListen: with metrics.listen, /metrics is served there and is
// 404 on the public link host, which keeps its pages.
func TestMetricsListen(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(_ string, c *Config) { c.Metrics.Listen = "127.0.0.1:0" })
	live := r.Live()
	if live.Metrics == "" || live.Metrics == live.HTTP {
		t.Fatalf("ready file: metrics %q, http %q", live.Metrics, live.HTTP)
	}
	for _, c := range []struct {
		addr string
		want int
	}{{live.HTTP, 404}, {live.Metrics, 200}} {
		resp, err := http.Get("http://" + c.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || (c.want == 200 && !strings.Contains(string(body), "careerrelay_smtp_messages_received_total")) {
			t.Errorf("/metrics on %s: %d, want %d", c.addr, resp.StatusCode, c.want)
		}
	}
	if resp, err := http.Get("http://" + live.HTTP + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz on the public listener: %v %v", resp, err)
	}
}
