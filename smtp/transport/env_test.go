package transport_test

// The transports are tested as the queue drives them: a queue.Engine on a
// fresh store delivers with the transport under test (the environment of
// smtp/queue/queuetest, shared with the queue's tests), and the tests look
// at the queue, the metrics and the peers. This package (transport_test)
// may import smtp/queue, which imports transport; the package transport
// itself never does.

import "github.com/careerrelay/careerrelay/store"

func stateName(s store.RcptState) string {
	switch s {
	case store.Pending:
		return "pending"
	case store.Delivered:
		return "delivered"
	case store.Failed:
		return "failed"
	}
	return "?"
}
