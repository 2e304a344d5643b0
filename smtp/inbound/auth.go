package inbound

import (
	"crypto/subtle"
	"sync"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

// users checks SMTP AUTH credentials against the configured bcrypt hashes.
type users struct {
	hashes map[string][]byte
}

// dummyHash is compared when the user is unknown, so that the answer takes
// as long as for a known user with a wrong password. Made once per process
// and only when first needed: bcrypt is slow on purpose.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("careerrelay-dummy"), bcrypt.DefaultCost)
	return h
})

func newUsers(list []configs.User) *users {
	u := &users{hashes: map[string][]byte{}}
	for _, x := range list {
		u.hashes[x.Name] = []byte(x.PasswordHash)
	}
	return u
}

// check returns nil when name and password match a configured user.
func (u *users) check(name, password string) error {
	h, ok := u.hashes[name]
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
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
