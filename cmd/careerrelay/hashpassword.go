package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const hashPasswordUsage = `Usage:
  careerrelay hash-password [-cost 10] < password

Reads a password from standard input (one line; the line end is not part
of it) and prints its bcrypt hash, for smtp.users[].password_hash or
tenants[].hr_users[].password_hash. Reading it from standard input keeps
the password out of the process list and the shell history:

  printf '%s' 'THE PASSWORD' | careerrelay hash-password
  careerrelay hash-password < password.txt
`

// runHashPassword prints the bcrypt hash of the password on stdin.
func runHashPassword(args []string) int {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.Usage = func() { io.WriteString(os.Stderr, hashPasswordUsage+"\nFlags:\n"); fs.PrintDefaults() }
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost, 10 to 14 (each step doubles the time of a login)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *cost < 10 || *cost > 14 {
		io.WriteString(os.Stderr, "hash-password: no arguments; -cost from 10 to 14\n\n"+hashPasswordUsage)
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(os.Stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "hash-password:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	switch {
	case password == "":
		fmt.Fprintln(os.Stderr, "hash-password: no password on standard input")
		return 1
	case len(password) > 72:
		fmt.Fprintln(os.Stderr, "hash-password: bcrypt uses at most 72 octets; use a shorter password")
		return 1
	case len(password) < 12:
		fmt.Fprintln(os.Stderr, "hash-password: warning: a password under 12 characters is easy to guess")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hash-password:", err)
		return 1
	}
	fmt.Println(string(hash))
	return 0
}
