package bufpool

import (
	"runtime"
	"testing"
)

// TestKeptAcrossCollections: a buffer given back is handed out again
// after garbage collections, which empty a sync.Pool.
func TestKeptAcrossCollections(t *testing.T) {
	p := New(2, 1024, 4096)
	b := p.Get()
	if len(*b) != 1024 {
		t.Fatalf("new buffer of length %d, want 1024", len(*b))
	}
	p.Put(b)
	runtime.GC()
	runtime.GC()
	if got := p.Get(); got != b {
		t.Error("the buffer given back before two collections was not handed out again")
	}
}

// TestBounds: buffers over the capacity limit are dropped, and so are
// those beyond the number kept; Put never blocks.
func TestBounds(t *testing.T) {
	p := New(2, 16, 32)
	big := make([]byte, 64)
	p.Put(&big)
	if got := p.Get(); got == &big {
		t.Error("a buffer over the capacity limit was kept")
	}
	a, b, c := p.Get(), p.Get(), p.Get()
	p.Put(a)
	p.Put(b)
	p.Put(c) // the pool is full: dropped, without blocking
	got := map[*[]byte]bool{p.Get(): true, p.Get(): true}
	if !got[a] || !got[b] {
		t.Error("the two buffers kept were not handed out again")
	}
	if p.Get() == c {
		t.Error("a third buffer was kept by a pool of two")
	}
}
