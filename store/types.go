package store

import "time"

// RcptState is where one recipient of a queued message stands.
type RcptState int

const (
	// Pending recipients are still to be delivered.
	Pending RcptState = iota
	// Delivered recipients were accepted by the next hop.
	Delivered
	// Failed recipients were refused permanently or timed out; a DSN was
	// (or, for a DSN message itself, could not be) sent.
	Failed
)

// Rcpt is one envelope recipient of a queued message.
type Rcpt struct {
	Addr      string    `json:"addr"`
	State     RcptState `json:"state"`
	LastError string    `json:"last_error,omitempty"` // the last reply or failure, for DSNs and `careerrelay queue`
}

// Message is one queued copy: the metadata of a body that still has
// recipients to reach. Its body is stored separately (see Tx.Body): inline
// in bbolt, or for a large one in a spool file (Spool). Copies of one
// accepted message share one stored body (Shared, see Tx.EnqueueShared),
// and a copy with a Recipe is made from it only when it is delivered.
type Message struct {
	ID          string    `json:"id"`                   // queue id, assigned by Tx.Enqueue, sorts by arrival
	Tenant      string    `json:"tenant,omitempty"`     // tenant id, "" when relayed for an unknown sender
	From        string    `json:"from"`                 // envelope sender; "" is the null sender (DSNs)
	Rcpts       []Rcpt    `json:"rcpts"`                //
	MessageID   string    `json:"message_id,omitempty"` // the Message-ID header, for logs and DSNs
	Received    time.Time `json:"received"`             // when the inbound session accepted it
	Size        int64     `json:"size"`                 // body size in octets
	Attempts    int       `json:"attempts"`             // delivery attempts started so far
	NextAttempt time.Time `json:"next_attempt"`         // when a worker may next try it
	LastError   string    `json:"last_error,omitempty"` // the last temporary failure
	DSN         bool      `json:"dsn,omitempty"`        // a bounce we generated: never bounced itself
	Spool       string    `json:"spool,omitempty"`      // the body's file in the spool folder (set by Tx.EnqueueSpooled); "" when inline
	Shared      string    `json:"shared,omitempty"`     // the key of the body shared with other copies (set by Tx.EnqueueShared); "" when it is the copy's own
	Recipe      *Recipe   `json:"recipe,omitempty"`     // how the copy is made from the body at delivery; nil: sent as stored
}

// Recipe says how a queued copy is made from its stored body when it is
// delivered, so that a message to many recipients is stored once and each
// copy costs memory and disk only while it is being sent. The store keeps
// it; package pipeline renders it.
type Recipe struct {
	Tag  string `json:"tag,omitempty"`  // the template tag that Link replaces; "" when nothing is replaced
	Link string `json:"link,omitempty"` // the copy's link (personal or generic)
	Send string `json:"send,omitempty"` // the send record of a personal link, told of the copy's outcome
	Sign bool   `json:"sign,omitempty"` // DKIM-signed with the tenant's keys at delivery, with t= then
	// From is the domain of the header's From when the message was
	// received, which chooses the domain the copy is signed for (d=); ""
	// (not known then, or a copy queued by an earlier version) has it
	// read from the body at delivery.
	From string `json:"from,omitempty"`
}

// PendingRcpts lists the addresses still to be delivered.
func (m *Message) PendingRcpts() []string {
	var out []string
	for _, r := range m.Rcpts {
		if r.State == Pending {
			out = append(out, r.Addr)
		}
	}
	return out
}
