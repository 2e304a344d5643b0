// Package spill holds a message while it is received: in memory while it is
// small, in an unlinked temporary file once it grows past a limit, so that
// fifty concurrent 10 MB messages do not cost half a gigabyte of heap.
//
// When the message is complete, Bytes gives it as one slice: the memory
// buffer, or a read-only memory map of the file. Mapped pages are file
// backed and leave the process's resident set at Close; a package-wide
// limit bounds how many files are mapped (and processed) at once.
package spill

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/careerrelay/careerrelay/internal/bufpool"
)

// DefaultLimit is the size past which a Buffer moves to a file.
const DefaultLimit = 256 << 10

// mapped bounds the spilled buffers mapped at once: the rewriting and
// signing of large messages is CPU-bound, so more than one per core only
// adds resident memory.
var mapped = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// memPool keeps the memory of closed buffers for the next message: most
// mail is a few KB, and growing a fresh slice for each costs more than
// receiving it. It keeps 64 buffers of up to 64 KiB, across garbage
// collections.
var memPool = bufpool.New(64, 32<<10, 64<<10)

// Buffer is a message being received. The zero value is not usable; use
// New. A Buffer is not safe for concurrent use.
type Buffer struct {
	limit   int
	newFile func() (*os.File, error)

	mem  []byte
	pool *[]byte // where mem came from, returned at Close
	f    *os.File
	w    *bufio.Writer // buffers the writes to f
	size int64

	view    []byte // the map of f, once Bytes was called
	holding bool   // a slot of mapped is held
	closed  bool
}

// New returns an empty buffer that keeps up to limit octets in memory and
// then moves to a file made by newFile, which must return an unlinked,
// writable, readable file.
func New(limit int, newFile func() (*os.File, error)) *Buffer {
	p := memPool.Get()
	return &Buffer{limit: limit, newFile: newFile, mem: (*p)[:0], pool: p}
}

// TempFile makes an unlinked file in the system's temporary folder: the
// default for callers without a store.
func TempFile() (*os.File, error) {
	f, err := os.CreateTemp("", "careerrelay-spill-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	if b.closed || b.view != nil {
		return 0, errors.New("spill: write after Bytes or Close")
	}
	if b.f == nil && len(b.mem)+len(p) > b.limit {
		f, err := b.newFile()
		if err != nil {
			return 0, fmt.Errorf("spill: temporary file: %w", err)
		}
		b.f = f
		b.w = bufio.NewWriterSize(f, 64<<10)
		if _, err := b.w.Write(b.mem); err != nil {
			return 0, fmt.Errorf("spill: %w", err)
		}
		b.mem = b.mem[:0]
	}
	if b.f != nil {
		n, err := b.w.Write(p)
		b.size += int64(n)
		if err != nil {
			return n, fmt.Errorf("spill: %w", err)
		}
		return n, nil
	}
	b.mem = append(b.mem, p...)
	b.size += int64(len(p))
	return len(p), nil
}

// Len is the number of octets written.
func (b *Buffer) Len() int64 { return b.size }

// Spilled says whether the buffer moved to a file.
func (b *Buffer) Spilled() bool { return b.f != nil }

// Bytes returns everything written, as one slice that stays valid until
// Close (its memory is then reused) and must not be changed. For a spilled buffer it waits for a free
// mapping slot (see the package comment), then maps the file.
func (b *Buffer) Bytes() ([]byte, error) {
	if b.closed {
		return nil, errors.New("spill: Bytes after Close")
	}
	if b.f == nil {
		return b.mem, nil
	}
	if b.view != nil {
		return b.view, nil
	}
	if err := b.w.Flush(); err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	if !b.holding {
		mapped <- struct{}{}
		b.holding = true
	}
	v, err := mapFile(b.f, b.size)
	if err != nil {
		return nil, fmt.Errorf("spill: map: %w", err)
	}
	b.view = v
	return v, nil
}

// Close unmaps and closes the file (which removes it) and frees the
// buffer. It is safe to call more than once.
func (b *Buffer) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var err error
	if b.view != nil {
		err = unmap(b.view)
		b.view = nil
	}
	if b.holding {
		<-mapped
		b.holding = false
	}
	if b.f != nil {
		if cerr := b.f.Close(); err == nil {
			err = cerr
		}
	}
	if b.pool != nil {
		*b.pool = b.mem[:0]
		memPool.Put(b.pool) // kept up to 64 KiB of capacity
	}
	b.mem, b.pool = nil, nil
	return err
}

// Map maps the first size octets of f read-only for a caller that
// processes a large file as one slice (the late rendering of a large queued
// copy). It waits for a slot of the same package-wide limit as Bytes, so
// that receiving and rendering large messages together map no more files
// than there are cores. release unmaps and frees the slot; f stays open.
func Map(f *os.File, size int64) (view []byte, release func(), err error) {
	mapped <- struct{}{}
	v, err := mapFile(f, size)
	if err != nil {
		<-mapped
		return nil, nil, fmt.Errorf("spill: map: %w", err)
	}
	var once sync.Once
	return v, func() {
		once.Do(func() {
			unmap(v)
			<-mapped
		})
	}, nil
}
