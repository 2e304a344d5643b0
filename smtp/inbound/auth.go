package inbound

import (
	"context"
	"crypto/subtle"
	"errors"
	"runtime"
	"sync"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

// users checks SMTP AUTH credentials against the configured bcrypt hashes.
type users struct {
	hashes map[string][]byte
	// dummy is compared when the user is unknown, so that the answer
	// takes as long as for a known user with a wrong password: it has the
	// cost most of the configured hashes have. Made once and only when
	// first needed: bcrypt is slow on purpose.
	dummy func() []byte
	// checks holds a token per bcrypt comparison running: at most one per
	// CPU, so that password checks (guessing among them) leave the other
	// sessions some time.
	checks chan struct{}
}

func newUsers(list []configs.User) *users {
	u := &users{hashes: map[string][]byte{}, checks: make(chan struct{}, runtime.NumCPU())}
	for _, x := range list {
		u.hashes[x.Name] = []byte(x.PasswordHash)
	}
	cost := commonCost(u.hashes)
	u.dummy = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("careerrelay-dummy"), cost)
		return h
	})
	return u
}

// commonCost is the bcrypt cost most of hashes have (the higher one of a
// tie), bcrypt.DefaultCost when there is none.
func commonCost(hashes map[string][]byte) int {
	best, n := bcrypt.DefaultCost, costs(hashes)
	for c, k := range n {
		if k > n[best] || k == n[best] && c > best {
			best = c
		}
	}
	return best
}

// costs counts the hashes of each bcrypt cost.
func costs(hashes map[string][]byte) map[int]int {
	n := map[int]int{}
	for _, h := range hashes {
		if c, err := bcrypt.Cost(h); err == nil {
			n[c]++
		}
	}
	return n
}

// errAuthBusy: no bcrypt comparison became free before ctx ended.
var errAuthBusy = errors.New("no password check free in time")

// check returns nil when name and password match a configured user,
// gosmtp.ErrAuthFailed when they do not, errAuthBusy when ctx ended while
// it waited for a comparison to be free.
func (u *users) check(ctx context.Context, name, password string) error {
	select {
	case u.checks <- struct{}{}:
	case <-ctx.Done():
		return errAuthBusy
	}
	defer func() { <-u.checks }()
	h, ok := u.hashes[name]
	if !ok {
		bcrypt.CompareHashAndPassword(u.dummy(), []byte(password))
		return gosmtp.ErrAuthFailed
	}
	if bcrypt.CompareHashAndPassword(h, []byte(password)) != nil {
		return gosmtp.ErrAuthFailed
	}
	return nil
}

// loginServer is the server side of the LOGIN mechanism (go-sasl has only
// the client): it asks for the user name, then the password.
type loginServer struct {
	step     int
	username string
	check    func(user, pass string) error
}

var errLoginAborted = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2}, Message: "Bad LOGIN exchange"}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step++
		if len(response) > 0 { // initial response carries the user name
			s.username = string(response)
			s.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		s.username = string(response)
		s.step++
		return []byte("Password:"), false, nil
	case 2:
		s.step++
		return nil, true, s.check(s.username, string(response))
	}
	return nil, false, errLoginAborted
}

// plainServer wraps go-sasl's PLAIN server so that an authorization
// identity other than the user is refused.
func plainServer(check func(user, pass string) error) sasl.Server {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && subtle.ConstantTimeCompare([]byte(identity), []byte(username)) != 1 {
			return gosmtp.ErrAuthFailed
		}
		return check(username, password)
	})
}
