package testlib

import (
	"context"
	"net"
	"sync"
)

// PipeListener is an in-memory net.Listener: its Dial makes a net.Pipe
// and hands one end to Accept. It is for tests in a testing/synctest
// bubble, where a goroutine blocked on a real socket is not durably
// blocked (the bubble's clock would not move), while one blocked on a
// pipe is. Give it to SinkOptions.Listener to run a Sink on it.
type PipeListener struct {
	addr  pipeAddr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipeListener makes a PipeListener whose Addr is addr (a host:port
// that nothing resolves; it only names the listener).
func NewPipeListener(addr string) *PipeListener {
	return &PipeListener{addr: pipeAddr(addr), conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the server end of the next Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial; the connections made stay open.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the address NewPipeListener was given.
func (l *PipeListener) Addr() net.Addr { return l.addr }

// Dial connects to the listener, whatever network and address it is
// given: it has the signature of net.Dialer.DialContext, to serve as a
// client's dial function. It blocks until Accept takes the connection.
func (l *PipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: l.addr, Err: ctx.Err()}
	}
	client.Close()
	server.Close()
	return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: l.addr, Err: net.ErrClosed}
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
