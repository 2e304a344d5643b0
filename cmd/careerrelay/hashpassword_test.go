package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestHashPassword: the hash printed for a password on standard input is
// a bcrypt hash of exactly that password (its line end not included), and
// one that check-config accepts.
func TestHashPassword(t *testing.T) {
	in := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(in, []byte("correct horse battery staple\n"), 0o600)
	f, _ := os.Open(in)
	defer f.Close()
	r, w, _ := os.Pipe()
	oldIn, oldOut := os.Stdin, os.Stdout
	os.Stdin, os.Stdout = f, w
	code := runHashPassword(nil)
	os.Stdin, os.Stdout = oldIn, oldOut
	w.Close()
	out, _ := io.ReadAll(r)
	hash := strings.TrimSpace(string(out))
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery staple")) != nil {
		t.Fatalf("exit %d, hash %q", code, hash)
	}
	if c, _ := bcrypt.Cost([]byte(hash)); c != 10 {
		t.Errorf("cost %d, want 10", c)
	}
}
