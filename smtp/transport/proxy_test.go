package transport_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// proxy stands between the engine and a sink and sees the connections
// from the peer's side: how many the engine opened, how many it closed,
// which commands it sent. It can hang up on every open connection, as a
// peer's idle timeout does, and cut a connection when the engine sends a
// given command.
type proxy struct {
	Addr   string
	target string

	mu     sync.Mutex
	opened int             // connections accepted
	closed int             // connections the engine closed (not the proxy)
	cmds   map[string]int  // first words of the lines the engine sent, upper-cased
	conns  map[*pconn]bool // open connections
	cutAt  string          // a line (upper-cased) at which to cut the connection
}

type pconn struct {
	client, server net.Conn
	hungUp         bool // the proxy closed it
}

// newProxy starts a proxy to target on a free port of 127.0.0.1; it stops
// when the test ends.
func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, l, target, func() (net.Conn, error) { return net.Dial("tcp", target) })
}

// newPipeProxy starts a proxy on an in-memory listener to a sink on
// another (testlib.PipeListener), for a synctest bubble: the engine
// dials it with the proxy listener's Dial.
func newPipeProxy(t *testing.T, l, target *testlib.PipeListener) *proxy {
	t.Helper()
	return serveProxy(t, l, target.Addr().String(), func() (net.Conn, error) {
		return target.Dial(context.Background(), "pipe", "")
	})
}

// serveProxy runs a proxy on l that reaches its target with dial; it
// stops when the test ends.
func serveProxy(t *testing.T, l net.Listener, target string, dial func() (net.Conn, error)) *proxy {
	t.Helper()
	p := &proxy{Addr: l.Addr().String(), target: target, cmds: map[string]int{}, conns: map[*pconn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.hangUp("")
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := dial()
			if err != nil {
				c.Close()
				continue
			}
			pc := &pconn{client: c, server: s}
			p.mu.Lock()
			p.opened++
			p.conns[pc] = true
			p.mu.Unlock()
			wg.Go(func() { io.Copy(c, s) })
			wg.Go(func() { p.forward(pc) })
		}
	})
	return p
}

// forward copies what the engine sends to the sink line by line, noting
// each line's first word.
func (p *proxy) forward(pc *pconn) {
	defer pc.server.Close()
	r := bufio.NewReader(pc.client)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			p.mu.Lock()
			if !pc.hungUp {
				p.closed++
			}
			delete(p.conns, pc)
			p.mu.Unlock()
			pc.client.Close()
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		first, _, _ := strings.Cut(cmd, " ")
		p.mu.Lock()
		p.cmds[first]++
		cut := p.cutAt != "" && cmd == p.cutAt
		if cut {
			pc.hungUp = true
		}
		p.mu.Unlock()
		if cut {
			pc.client.Close()
			pc.server.Close()
			continue // the read fails next
		}
		if _, err := io.WriteString(pc.server, line); err != nil {
			pc.client.Close()
		}
	}
}

// hangUp closes every open connection, after writing reply (and CRLF) to
// the engine when it is not empty.
func (p *proxy) hangUp(reply string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.conns {
		pc.hungUp = true
		if reply != "" {
			io.WriteString(pc.client, reply+"\r\n")
		}
		pc.client.Close()
		pc.server.Close()
	}
}

// cut makes the proxy close a connection when the engine sends line
// ("DATA"); "" stops it.
func (p *proxy) cut(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAt = strings.ToUpper(line)
}

// counts returns how many connections were opened, and how many of them
// the engine closed.
func (p *proxy) counts() (opened, closed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened, p.closed
}

// sent returns how many lines the engine sent that began with cmd.
func (p *proxy) sent(cmd string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmds[cmd]
}
