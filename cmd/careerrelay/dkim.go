package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/smtp/dkim"
)

// runDKIMKeygen makes a DKIM key, writes it, and prints its DNS record and
// config line.
func runDKIMKeygen(args []string) int {
	fs := flag.NewFlagSet("dkim-keygen", flag.ContinueOnError)
	domain := fs.String("domain", "", "the tenant's domain the key signs for (d=)")
	selector := fs.String("selector", "", "the selector to publish the key under, e.g. cr2026")
	algo := fs.String("algo", "rsa", "key algorithm: rsa or ed25519 (publish both and configure both for dual signing)")
	bits := fs.Int("bits", 2048, "RSA key size in bits (2048 to 4096)")
	out := fs.String("out", "", "file to write the PKCS#8 PEM private key to (mode 0600)")
	force := fs.Bool("force", false, "replace -out if it exists")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *domain == "" || *selector == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "dkim-keygen: -domain D -selector S -out FILE are required")
		fs.Usage()
		return 2
	}
	bitsSet := false
	fs.Visit(func(f *flag.Flag) { bitsSet = bitsSet || f.Name == "bits" })
	if *algo == "ed25519" && bitsSet {
		fmt.Fprintln(os.Stderr, "dkim-keygen: -bits applies to rsa keys only")
		return 2
	}
	key, err := dkim.GenerateKey(*algo, *bits)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dkim-keygen:", err)
		return 2
	}
	pemData, err := dkim.MarshalKey(key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dkim-keygen:", err)
		return 1
	}
	txt, err := dkim.TXTRecord(key.Public())
	if err != nil {
		fmt.Fprintln(os.Stderr, "dkim-keygen:", err)
		return 1
	}
	if err := dkim.WriteKeyFile(*out, pemData, *force); err != nil {
		fmt.Fprintln(os.Stderr, "dkim-keygen:", err)
		return 1
	}
	path, err := filepath.Abs(*out)
	if err != nil {
		path = *out
	}
	fmt.Printf("Wrote the %s key to %s (mode 0600).\n\n", *algo, path)
	fmt.Printf("Publish this TXT record in the DNS zone of %s:\n\n", *domain)
	fmt.Println(dkim.ZoneRecord(*selector, *domain, txt))
	fmt.Printf("\nThen add the key to the tenant's dkim list in the config:\n\n")
	fmt.Printf("      - {selector: %s, key_file: %s}\n", *selector, path)
	fmt.Printf("\nand run careerrelay dkim-check -config FILE once the record is published.\n")
	return 0
}

// runDKIMCheck compares the DNS records of every tenant's selectors with the
// configured keys.
func runDKIMCheck(args []string) int {
	fs := flag.NewFlagSet("dkim-check", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	timeout := fs.Duration("timeout", time.Minute, "give up on DNS after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "dkim-check: -config FILE is required")
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, t := range cfg.Tenants {
		if len(t.DKIM) == 0 {
			fmt.Printf("tenant %s: no dkim keys; its mail goes out unsigned\n", t.ID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	code := 0
	for _, r := range dkim.Check(ctx, cfg, net.DefaultResolver.LookupTXT) {
		fmt.Println(r)
		if r.Status != dkim.Match {
			code = 1
		}
	}
	return code
}
