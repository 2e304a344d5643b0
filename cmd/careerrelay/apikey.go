package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"regexp"
)

const apiKeyUsage = `Usage:
  careerrelay api-key -tenant T -id ID

Makes a key for the tenant's API (/api/v1/tenants/T/...): 32 random bytes,
base64url. It prints the key once (give it to the system that calls the
API, such as the ATS, and keep it nowhere else) and the line to add to the
tenant in the configuration file, which holds only the key's SHA-256. Add
the line, then restart careerrelay (or run check-config first).
`

// apiKeyIDRE is the form of a tenant id and of a key id.
var apiKeyIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// runAPIKey makes a tenant API key and prints it with its config line.
func runAPIKey(args []string) int {
	fs := flag.NewFlagSet("api-key", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, apiKeyUsage, "\nFlags:\n"); fs.PrintDefaults() }
	tenant := fs.String("tenant", "", "tenant id")
	id := fs.String("id", "", "key id, naming the system that holds the key (a-z, 0-9, -), e.g. ats1")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(os.Stderr, "api-key: unexpected argument %q\n", fs.Arg(0))
		return 2
	case !apiKeyIDRE.MatchString(*tenant) || !apiKeyIDRE.MatchString(*id):
		fmt.Fprint(os.Stderr, "api-key: -tenant T and -id ID are required (a-z, 0-9, -)\n\n", apiKeyUsage)
		return 2
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		fmt.Fprintln(os.Stderr, "api-key:", err)
		return 1
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(key))
	fmt.Printf("API key %s of tenant %s (shown only now; give it to the system that calls the API):\n\n  %s\n\n", *id, *tenant, key)
	fmt.Printf("Add to tenant %s in the configuration file (the key's SHA-256 only):\n\n", *tenant)
	fmt.Printf("    api_keys:\n      - {id: %s, sha256: \"%s\"}\n", *id, hex.EncodeToString(sum[:]))
	return 0
}
