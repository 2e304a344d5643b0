package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

// HR page sessions live in this process's memory: a restart, or another
// node behind the same name, asks HR to log in again. A session is a
// random 256-bit id in a cookie scoped to /hr/, HttpOnly, SameSite=Strict,
// and Secure when the links are https.

// Lifetimes and limits of the HR page.
const (
	hrSessionTTL    = 8 * time.Hour    // a working day
	hrLockAfter     = 10               // failed logins of one account ...
	hrAddrLockAfter = 30               // ... or from one address ...
	hrLockWindow    = 15 * time.Minute // ... within this long lock it for as long
	hrCookie        = "cr_hr"
	hrLoginCookie   = "cr_hr_login" // the login form's CSRF value
)

type hrSession struct {
	tenant  *configs.Tenant
	user    string
	csrf    string
	expires time.Time
}

type hrSessions struct {
	mu       sync.Mutex
	now      func() time.Time
	sessions map[string]*hrSession
	fails    map[string]*hrFails // "user:<name>" or "addr:<client key>"
}

type hrFails struct {
	n     int
	start time.Time
}

func newHRSessions(now func() time.Time) *hrSessions {
	return &hrSessions{now: now, sessions: map[string]*hrSession{}, fails: map[string]*hrFails{}}
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session and returns its id.
func (s *hrSessions) start(t *configs.Tenant, user string) (string, *hrSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, ss := range s.sessions { // drop expired ones as sessions come
		if now.After(ss.expires) {
			delete(s.sessions, id)
		}
	}
	id := randomToken()
	ss := &hrSession{tenant: t, user: user, csrf: randomToken(), expires: now.Add(hrSessionTTL)}
	s.sessions[id] = ss
	return id, ss
}

// get returns the session of the request's cookie, nil when there is none
// or it expired.
func (s *hrSessions) get(r *http.Request) (string, *hrSession) {
	c, err := r.Cookie(hrCookie)
	if err != nil {
		return "", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[c.Value]
	if ss == nil || s.now().After(ss.expires) {
		delete(s.sessions, c.Value)
		return "", nil
	}
	return c.Value, ss
}

func (s *hrSessions) end(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

// locked reports whether logins for any of keys are refused now.
func (s *hrSessions) locked(keys ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, k := range keys {
		f := s.fails[k]
		if f == nil {
			continue
		}
		if now.Sub(f.start) >= hrLockWindow {
			delete(s.fails, k)
			continue
		}
		limit := hrLockAfter
		if strings.HasPrefix(k, "addr:") {
			limit = hrAddrLockAfter
		}
		if f.n >= limit {
			return true
		}
	}
	return false
}

// failed counts a failed login against keys.
func (s *hrSessions) failed(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, k := range keys {
		f := s.fails[k]
		if f == nil || now.Sub(f.start) >= hrLockWindow {
			f = &hrFails{start: now}
			s.fails[k] = f
		}
		f.n++
	}
	if len(s.fails) > 100000 { // a flood of addresses: forget the oldest half
		for k, f := range s.fails {
			if now.Sub(f.start) >= hrLockWindow/2 {
				delete(s.fails, k)
			}
		}
	}
}

// sameToken compares two tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
