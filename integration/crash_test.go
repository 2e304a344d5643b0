package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// Crash-safety parameters. careerrelay "never loses a message it accepted",
// and "whatever was queued is delivered after a restart or a crash (kill -9)".
const (
	crashMessages    = 2000
	crashSenders     = 12
	crashKills       = 4 // during sending; one more during delivery
	crashSendTimeout = 90 * time.Second
	crashDrainWait   = 60 * time.Second
)

// crashLedger is what the senders saw: the Message-IDs that got a 250.
type crashLedger struct {
	mu        sync.Mutex
	accepted  map[string]bool
	permanent map[string]string // Message-ID -> 5xx reply: not retried
	retries   atomic.Int64
	count     atomic.Int64 // len(accepted), for polling without the lock
}

func (l *crashLedger) accept(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted[id] = true
	l.count.Store(int64(len(l.accepted)))
}

func (l *crashLedger) fail(id, reply string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.permanent[id] = reply
}

// TestCrashSafety sends crashMessages messages over crashSenders concurrent
// connections while the relay is killed with SIGKILL at random moments and
// restarted; one more kill hits the delivery phase. Every message that got
// a 250 must reach the sink at least once (matched by Message-ID).
// Messages that got no 250 are retried by their sender with the same
// Message-ID, as an MTA would.
func TestCrashSafety(t *testing.T) {
	sink := newSink(t, nil)
	// Every one of the 2,000 deliveries is DKIM-verified at the end of the
	// test, with go-msgauth and with python3-dkim (all in one process).
	r := StartRelay(t, sink.Addr, func(_ string, c *Config) {
		c.Delivery.Workers = 8
		c.Log.Level = "info"
	})

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	t.Logf("seed %d", seed)

	type message struct {
		id   string
		to   []string
		data []byte
	}
	// Every tenth message is a tagged rejection to three candidates: three
	// copies made at delivery from one stored body, which must outlive
	// every kill until the last copy is delivered.
	rcptsOf := map[string][]string{} // the copies each Message-ID must reach the sink with
	queue := make(chan message, crashMessages)
	for i := range crashMessages {
		to := []string{fmt.Sprintf("candidate%d@example.net", i)}
		body := fmt.Sprintf("message %d\nお祈り申し上げます。", i)
		if i%10 == 0 {
			to = append(to, fmt.Sprintf("candidate%d-b@example.net", i), fmt.Sprintf("candidate%d-c@example.net", i))
			body += "\nキャリア相談: [[career-relay]]"
		}
		data, id := newMessage(tenantSender, to[0], fmt.Sprintf("crash %d", i), body)
		rcptsOf[id] = to
		queue <- message{id, to, data}
	}
	close(queue)

	ledger := &crashLedger{accepted: map[string]bool{}, permanent: map[string]string{}}
	stop := make(chan struct{})
	var senders sync.WaitGroup
	for range crashSenders {
		senders.Go(func() {
			var cl *Client
			defer func() {
				if cl != nil {
					cl.Close()
				}
			}()
			for m := range queue {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if cl == nil {
						var err error
						// The address of the relay running now (none
						// between a kill and the next start).
						if cl, err = Dial(r.Live().SMTP, SendOptions{}); err != nil {
							cl = nil
							ledger.retries.Add(1)
							time.Sleep(20 * time.Millisecond)
							continue
						}
					}
					_, err := cl.Send(tenantSender, m.to, m.data)
					if err == nil {
						ledger.accept(m.id)
						break
					}
					if rep, ok := replyOf(err); ok && rep.Code/100 == 5 {
						ledger.fail(m.id, rep.String())
						cl.Reset()
						break
					}
					// A 4xx or a dropped connection: reconnect and retry.
					ledger.retries.Add(1)
					cl.c.Close()
					cl = nil
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	defer func() {
		close(stop)
		<-sendersDone
	}()

	// Kill at random points of the sending, spread over 5%..90% of it.
	var thresholds []int64
	for range crashKills {
		thresholds = append(thresholds, int64(crashMessages*(5+rng.IntN(86))/100))
	}
	slices.Sort(thresholds)
	start := time.Now()
	kills := 0
	for _, th := range thresholds {
		testlib.Poll(crashSendTimeout, func() bool {
			select {
			case <-sendersDone:
				return true
			default:
			}
			return ledger.count.Load() >= th
		})
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		accepted := ledger.count.Load()
		r.Kill()
		kills++
		t.Logf("kill -9 #%d after %v: %d accepted, %d at the sink", kills, time.Since(start).Round(time.Millisecond), accepted, sink.Count())
		r.Start()
	}
	select {
	case <-sendersDone:
	case <-time.After(crashSendTimeout - time.Since(start)):
		t.Fatalf("senders not done after %v: %d accepted", crashSendTimeout, ledger.count.Load())
	}
	sendTime := time.Since(start)

	// One more kill while the queue drains, if it has not drained yet.
	if sink.Count() < crashMessages*12/10 {
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		r.Kill()
		kills++
		t.Logf("kill -9 #%d during delivery: %d at the sink", kills, sink.Count())
		r.Start()
	}

	ledger.mu.Lock()
	accepted := ledger.accepted
	permanent := ledger.permanent
	ledger.mu.Unlock()
	// delivered counts the copies at the sink per Message-ID and recipient.
	delivered := func() map[string]int {
		n := map[string]int{}
		for _, m := range sink.Messages() {
			for _, rcpt := range m.Rcpts {
				n[m.MessageID+" "+rcpt]++
			}
		}
		return n
	}
	missing := func() []string {
		got := delivered()
		var lost []string
		for id := range accepted {
			for _, rcpt := range rcptsOf[id] {
				if got[id+" "+rcpt] == 0 {
					lost = append(lost, id+" to "+rcpt)
				}
			}
		}
		return lost
	}
	testlib.Poll(crashDrainWait, func() bool { return len(missing()) == 0 })
	lost := missing()

	got := sink.ByMessageID()
	duplicated, extra := 0, 0
	for _, n := range delivered() {
		duplicated += n - 1
	}
	for id := range got {
		if !accepted[id] {
			extra++ // sent, no 250 seen (killed mid-reply), delivered anyway
		}
	}
	t.Logf("%d messages, %d senders, %d kills: %d accepted (250), %d refused with 5xx, %d retries, sending took %v",
		crashMessages, crashSenders, kills, len(accepted), len(permanent), ledger.retries.Load(), sendTime.Round(time.Millisecond))
	t.Logf("sink: %d deliveries of %d Message-IDs; lost %d, duplicated %d, delivered without a 250 seen %d",
		sink.Count(), len(got), len(lost), duplicated, extra)

	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("lost %d copies of messages that got a 250, e.g. %q", len(lost), lost[:min(len(lost), 10)])
	}
	if len(permanent) > 0 {
		for id, rep := range permanent {
			t.Errorf("a valid message got a permanent refusal: %s (Message-ID %s)", rep, id)
			break
		}
	}
	if len(accepted)+len(permanent) != crashMessages {
		t.Errorf("%d messages accepted and %d refused, want all %d answered", len(accepted), len(permanent), crashMessages)
	}
	r.Stop()
}
