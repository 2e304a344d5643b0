package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestHTTPSACMEPebble: two link hosts on one HTTPS listener, each
// certificate chosen by SNI: careers.example.jp (links.base_url) from a
// file, and the tenant's careers.acme.example (tenants[].links.base_url)
// obtained from a real ACME server, Debian's pebble (offline, on
// loopback), by TLS-ALPN-01 on http.listen_tls. The pages are served with
// each certificate (the ACME one verifies to pebble's root) and HSTS, only
// the tenant's host goes to ACME (the file takes precedence), and
// http.listen redirects both hosts to https.
//
// Ports, never guessed: pebble's challenge port (tlsPort) must be the
// relay's HTTPS port, and the relay's directory_url must name pebble. So
// the relay starts first, its directory_url naming a front door the test
// holds; its HTTPS port comes from the ready file; then pebble starts with
// that tlsPort on port 0 for its own listeners, which are read from
// /proc, and the front door forwards to pebble's ACME listener. autocert
// asks only at the first handshake for the host, after all this.
// pebble resolves the host with a DNS stub answering 127.0.0.1.
func TestHTTPSACMEPebble(t *testing.T) {
	t.Parallel()
	pebbleBin := testlib.NeedCommand(t, "pebble", "pebble")
	if runtime.GOOS != "linux" {
		t.Skip("pebble's ports are read from /proc (Linux)")
	}
	const host = "careers.acme.example"   // the tenant's, by ACME
	const fileHost = "careers.example.jp" // links.base_url's, from a file
	fileCert, fileKey, _ := testlib.SelfSignedCert(t, fileHost)
	dns := testlib.NewDNS(t)
	dns.SetA(host, netip.MustParseAddr("127.0.0.1"))

	pebbleDir := testlib.TempDir(t)
	pebCert, pebKey, _ := testlib.SelfSignedCert(t, "127.0.0.1", "localhost")
	writeFile(t, filepath.Join(pebbleDir, "cert.pem"), pebCert)
	writeFile(t, filepath.Join(pebbleDir, "key.pem"), pebKey)

	var acmeAddr atomic.Value // pebble's ACME listener, once known
	acmeAddr.Store("")
	door := startFrontDoor(t, func() string { return acmeAddr.Load().(string) })

	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(dir string, c *Config) {
		c.Links.BaseURL = "https://" + fileHost
		c.Tenants[0].Links = &TenantLinks{BaseURL: "https://" + host}
		c.HTTP.ListenTLS = "127.0.0.1:0"
		caFile := filepath.Join(dir, "pebble-https.pem")
		writeFile(t, caFile, pebCert)
		writeFile(t, filepath.Join(dir, "careers.crt"), fileCert)
		writeFile(t, filepath.Join(dir, "careers.key"), fileKey)
		c.HTTP.TLS = &HTTPTLS{Certificates: []TLSFiles{{CertFile: "careers.crt", KeyFile: "careers.key"}}, ACME: &ACME{
			DirectoryURL: "https://" + door + "/dir",
			Email:        "ops@acme.example",
			CAFile:       caFile,
		}}
	})
	if r.HTTPTLSAddr == "" {
		t.Fatal("ready file: no http_tls address")
	}
	_, tlsPort, _ := strings.Cut(r.HTTPTLSAddr, ":")

	pebbleConf := filepath.Join(pebbleDir, "pebble.json")
	conf := fmt.Sprintf(`{"pebble": {"listenAddress": "127.0.0.1:0", "managementListenAddress": "127.0.0.1:0",
  "certificate": %q, "privateKey": %q, "httpPort": 1, "tlsPort": %s, "ocspResponderURL": "",
  "externalAccountBindingRequired": false}}`, filepath.Join(pebbleDir, "cert.pem"), filepath.Join(pebbleDir, "key.pem"), tlsPort)
	writeFile(t, pebbleConf, []byte(conf))
	logPath := filepath.Join(pebbleDir, "pebble.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pebbleBin, "-config", pebbleConf, "-dnsserver", dns.Addr, "-strict=false")
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = logf, logf
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	pebbleLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	// pebble's two listeners; the one with /roots/0 is its management.
	pebbleHTTPS := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: testlib.CertPool(t, pebCert)},
	}}
	var ports []int
	if !testlib.Poll(20*time.Second, func() bool {
		ports = listeningPorts(t, cmd.Process.Pid)
		return len(ports) >= 2
	}) {
		t.Fatalf("pebble listens on %v, want 2 ports; log:\n%s", ports, pebbleLog())
	}
	var rootPEM []byte
	for _, p := range ports {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		resp, err := pebbleHTTPS.Get("https://" + addr + "/roots/0")
		if err != nil {
			t.Fatalf("pebble on %s: %v; log:\n%s", addr, err, pebbleLog())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(body), "BEGIN CERTIFICATE") {
			rootPEM = body
		} else {
			acmeAddr.Store(addr)
		}
	}
	if rootPEM == nil || acmeAddr.Load().(string) == "" {
		t.Fatalf("pebble's management (%v) or ACME listener not found; log:\n%s", rootPEM != nil, pebbleLog())
	}
	roots := testlib.CertPool(t, rootPEM)

	// The file's host: its certificate, at once, with no ACME order.
	fileClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: testlib.CertPool(t, fileCert), ServerName: fileHost},
	}}
	fresp, err := fileClient.Get("https://" + r.HTTPTLSAddr + "/t/" + tenantID)
	if err != nil {
		t.Fatalf("https GET on %s: %v", fileHost, err)
	}
	fresp.Body.Close()
	if fresp.StatusCode != 200 || fresp.TLS.PeerCertificates[0].Subject.CommonName != fileHost ||
		fresp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("GET https://%s/t/%s: %s, certificate %s, HSTS %q", fileHost, tenantID, fresp.Status,
			fresp.TLS.PeerCertificates[0].Subject, fresp.Header.Get("Strict-Transport-Security"))
	}

	// The first handshake for the host starts the issuance; a handshake
	// may fail while it runs.
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp *http.Response
	var body []byte
	var lastErr error
	if !testlib.Poll(90*time.Second, func() bool {
		resp, lastErr = client.Get("https://" + r.HTTPTLSAddr + "/t/" + tenantID)
		if lastErr != nil {
			return false // Poll backs off before the next try
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return true
	}) {
		t.Fatalf("https GET with pebble's root: %v\nrelay log:\n%s\npebble log:\n%s", lastErr, r.LogTail(6000), pebbleLog())
	}
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Errorf("GET https://%s/t/%s: %s\n%.300s", host, tenantID, resp.Status, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("HSTS %q, want max-age=31536000", got)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !slices.Contains(leaf.DNSNames, host) || !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble Intermediate CA") {
		t.Errorf("served certificate for %v issued by %q, want %s from pebble", leaf.DNSNames, leaf.Issuer.CommonName, host)
	}
	if len(resp.TLS.VerifiedChains) == 0 || resp.TLS.VerifiedChains[0][len(resp.TLS.VerifiedChains[0])-1].Subject.CommonName != rootCN(t, rootPEM) {
		t.Errorf("the chain does not verify to pebble's root")
	}
	// pebble issued it: httpPort is 1, so the challenge was TLS-ALPN-01
	// on the relay's HTTPS port.
	if plog := pebbleLog(); !strings.Contains(plog, "Issued certificate serial") || strings.Count(plog, "Issued certificate serial") != 1 ||
		strings.Contains(plog, fileHost) {
		t.Errorf("pebble should issue exactly one certificate, for %s alone; log:\n%s", host, plog)
	}
	// The account and the certificate are kept in <data_dir>/acme.
	if entries, err := os.ReadDir(filepath.Join(r.Dir, "data", "acme")); err != nil || len(entries) < 2 {
		t.Errorf("acme cache: %v, %v", entries, err)
	}

	// http.listen: 308 to https for the link host, path and query kept,
	// no HSTS; 404 for a host the config does not name.
	for _, tc := range []struct{ host, code, location string }{
		{host, "308", "https://" + host + "/c/k1.abc?utm_source=mail"},
		{fileHost + ":80", "308", "https://" + fileHost + "/c/k1.abc?utm_source=mail"},
		{"evil.example", "404", ""},
	} {
		req, _ := http.NewRequest("GET", "http://"+r.HTTPAddr+"/c/k1.abc?utm_source=mail", nil)
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Status[:3] != tc.code || resp.Header.Get("Location") != tc.location || resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("GET http://%s/c/...: %s Location %q HSTS %q, want %s %q and no HSTS", tc.host, resp.Status,
				resp.Header.Get("Location"), resp.Header.Get("Strict-Transport-Security"), tc.code, tc.location)
		}
	}
}

// rootCN is the common name of the first PEM certificate of pemData.
func rootCN(t *testing.T, pemData []byte) string {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil {
		t.Fatalf("no PEM in %q", pemData)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.Subject.CommonName
}

// listeningPorts returns the TCP ports the process pid listens on, from
// /proc: its socket inodes, matched with the LISTEN rows of
// /proc/PID/net/tcp and tcp6.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st ... inode (the tenth)
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			_, portHex, _ := strings.Cut(fields[1], ":")
			b, err := hex.DecodeString(portHex)
			if err != nil || len(b) != 2 {
				continue
			}
			ports = append(ports, int(b[0])<<8|int(b[1]))
		}
		f.Close()
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}
