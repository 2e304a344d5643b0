package referral

import "github.com/careerrelay/careerrelay/store"

// Sends calls fn for every send record (the mails that carried a personal
// link), in no particular order, until fn returns an error (which Sends
// returns). It is what the impact report reads next to Clicks and Ledger.
// fn runs inside a read transaction: it must not call the Service's
// writing methods.
func (s *Service) Sends(fn func(send *store.Send) error) error {
	return s.sh.View(func(tx store.SharedTx) error { return store.Sends(tx, fn) })
}
