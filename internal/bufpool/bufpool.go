// Package bufpool keeps byte buffers for reuse across garbage collections.
//
// A sync.Pool is emptied by the garbage collector (within two collections),
// and a relay under load allocates fast enough to collect several times a
// second: its pooled 32 and 64 KiB buffers for receiving and sending
// message bodies were made again every few dozen messages. A Pool here is
// a bounded free list instead: it keeps up to a fixed number of buffers
// whatever the collector does, and drops the rest.
package bufpool

// Pool is a free list of byte buffers. It is safe for concurrent use.
type Pool struct {
	free chan *[]byte
	size int
	keep int
}

// New returns a pool that hands out buffers of length size and keeps up
// to n of those given back, each of capacity keep at most.
func New(n, size, keep int) *Pool {
	return &Pool{free: make(chan *[]byte, n), size: size, keep: keep}
}

// Get returns a buffer given back earlier, or a new one of length size.
// A buffer given back keeps the length it had then.
func (p *Pool) Get() *[]byte {
	select {
	case b := <-p.free:
		return b
	default:
		b := make([]byte, p.size)
		return &b
	}
}

// Put gives b back for reuse; b must not be used afterwards. A buffer
// grown beyond the pool's capacity limit, or one more than it keeps, is
// left to the garbage collector.
func (p *Pool) Put(b *[]byte) {
	if b == nil || cap(*b) > p.keep {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}
