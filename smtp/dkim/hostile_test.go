package dkim

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// Headers built to make signing slow (issue 13): the cost of signing must
// grow linearly with the header. Time on a loaded machine is no measure a
// test can trust, so these count the bytes allocated, which a copy per
// folded line (go-msgauth v0.7.0's readHeader) makes quadratic; the times
// are BenchmarkSignFoldedHeader's.

// allocatedBytes is how many bytes f allocates, in every goroutine.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestSignFoldedHeaderLinear(t *testing.T) {
	s := testSigner(t, "ed25519")
	cost := map[int]uint64{}
	for _, lines := range []int{10000, 40000} {
		msg := foldedMessage(lines)
		var out []byte
		cost[lines] = allocatedBytes(func() { out = sign(t, s, msg, "acme.example") })
		mustVerify(t, out, 1)
		// Reading the header and hashing it copy it a few times, no more.
		if limit := uint64(10 * len(msg)); cost[lines] > limit {
			t.Errorf("signing %d folded lines (%d bytes) allocated %d bytes, want at most %d", lines, len(msg), cost[lines], limit)
		}
	}
	if cost[40000] > 10*cost[10000] {
		t.Errorf("signing 4 times the folded lines allocated %d bytes, %.1f times as much, want under 10", cost[40000], float64(cost[40000])/float64(cost[10000]))
	}
}

// manyToMessage is testMessage with n more To fields, each listed in h=.
func manyToMessage(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "To: r%d@example.net\r\n", i)
	}
	return append(b.Bytes(), testMessage(1<<10)...)
}

// TestSignManyFields: a header of 5,000 To fields is signed over every one
// of them (h= lists to 5,002 times) and verifies.
func TestSignManyFields(t *testing.T) {
	msg := manyToMessage(5000)
	out := sign(t, testSigner(t, "ed25519"), msg, "acme.example")
	vs := mustVerify(t, out, 1)
	n := 0
	for _, k := range vs[0].HeaderKeys {
		if k == "to" {
			n++
		}
	}
	if n != 5002 {
		t.Errorf("h= lists to %d times, want 5002", n)
	}
}
