//go:build linux

package integration

import (
	"bytes"
	endian "encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// A real Postfix (Debian package postfix, with libsasl2-modules for the
// SASL client) as the company's mail server, run by a test from its own
// configuration directory: its master process is the test's child, its
// smtpd listens on a port of 127.0.0.1 that the system picks (port 0 in
// master.cf; the test finds it in /proc), its queue, data and mail log
// are in the test's temp dir, and it relays everything to careerrelay
// (relayhost) over STARTTLS, checking the relay's certificate, with SASL
// AUTH. Nothing of the system's own Postfix (/etc/postfix/main.cf, which
// need not exist, its queue or its port 25) is used or started.

// postfixInstall says where Postfix's programs are.
type postfixInstall struct {
	command string // command_directory: postfix, postconf
	daemon  string // daemon_directory: master, smtpd, smtp, ...
}

// needPostfix returns where Postfix is installed. The test is skipped when
// Postfix, a SASL client plugin or root (Postfix's master runs as root
// and its daemons as the postfix user) is missing, and fails instead when
// CI=true: CI installs the packages and runs as root.
func needPostfix(t *testing.T) postfixInstall {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI must install it (Debian: postfix libsasl2-modules, with debconf "+
				"postfix/main_mailer_type=No configuration) and run as root", msg)
		}
		t.Skipf("%s (Debian packages postfix and libsasl2-modules)", msg)
	}
	postconf, err := exec.LookPath("postconf")
	if err != nil {
		postconf = "/usr/sbin/postconf"
	}
	// -d: the compiled-in defaults, which need no /etc/postfix/main.cf.
	out, err := exec.Command(postconf, "-d", "-h", "command_directory", "daemon_directory").Output()
	if err != nil {
		missing("postfix not installed (%s -d: %v)", postconf, err)
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		t.Fatalf("postconf -d -h command_directory daemon_directory: %q", out)
	}
	inst := postfixInstall{command: dirs[0], daemon: dirs[1]}
	for _, p := range []string{filepath.Join(inst.command, "postfix"), filepath.Join(inst.daemon, "master")} {
		if _, err := os.Stat(p); err != nil {
			missing("postfix not installed: %v", err)
		}
	}
	// Cyrus SASL's client plugins for PLAIN and LOGIN (libsasl2-modules);
	// without them Postfix's smtp says "No worthy mechs found".
	plugins, _ := filepath.Glob("/usr/lib/*/sasl2/libplain.so*")
	more, _ := filepath.Glob("/usr/lib/sasl2/libplain.so*")
	if len(plugins)+len(more) == 0 {
		missing("no Cyrus SASL PLAIN plugin (libsasl2-modules) for Postfix's SASL client")
	}
	if os.Geteuid() != 0 {
		missing("Postfix's master must run as root (euid %d)", os.Geteuid())
	}
	if _, err := user.Lookup("postfix"); err != nil {
		missing("no postfix user: %v", err)
	}
	return inst
}

// PostfixOptions say how a test's Postfix relays to careerrelay.
type PostfixOptions struct {
	Relayhost string // careerrelay's SMTP listener, host:port
	// CertPEM is the relay's certificate: Postfix trusts it (smtp_tls_CAfile)
	// and requires the relay to present a certificate for relay.test
	// signed by it (smtp_tls_security_level = secure).
	CertPEM        []byte
	User, Password string // SASL credentials for the relayhost
}

// Postfix is one Postfix instance run by a test.
type Postfix struct {
	t       *testing.T
	Dir     string // conf/, queue/, data/ and postfix.log
	ConfDir string
	LogPath string
	Addr    string // its smtpd, 127.0.0.1:PORT, known once it runs

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// postfixHostname is the company server's name (myhostname).
const postfixHostname = "mta.acme.example"

// StartPostfix writes a Postfix configuration into a new temp dir, runs
// `postfix check` (which makes the queue's folders) and starts the master
// daemon in the foreground as a child of the test, which stops it when the
// test ends. It fails the test, with the mail log, when Postfix does not
// start.
func StartPostfix(t *testing.T, inst postfixInstall, opts PostfixOptions) *Postfix {
	t.Helper()
	dir := testlib.TempDir(t)
	// Postfix's daemons run as the postfix user and must reach their
	// folders; MkdirTemp made dir 0700.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Postfix{
		t:       t,
		Dir:     dir,
		ConfDir: filepath.Join(dir, "conf"),
		LogPath: filepath.Join(dir, "postfix.log"),
	}
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pu.Uid)
	gid, _ := strconv.Atoi(pu.Gid)
	for _, d := range []string{p.ConfDir, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, gid); err != nil {
		t.Fatal(err)
	}

	host, port, err := net.SplitHostPort(opts.Relayhost)
	if err != nil {
		t.Fatalf("postfix: relayhost %q: %v", opts.Relayhost, err)
	}
	nexthop := fmt.Sprintf("[%s]:%s", host, port)
	caFile := filepath.Join(p.ConfDir, "relay-ca.pem")
	writeFileMode(t, caFile, opts.CertPEM, 0o644)
	// texthash: read as it is, no postmap. The key is the relayhost as
	// written in relayhost; the value user:password, spaces and all.
	passwd := filepath.Join(p.ConfDir, "sasl_passwd")
	writeFileMode(t, passwd, fmt.Appendf(nil, "%s %s:%s\n", nexthop, opts.User, opts.Password), 0o600)

	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "queue"),
		"data_directory = " + filepath.Join(dir, "data"),
		// Postfix >= 3.4 logs into a file through postlogd (the postlog
		// service in master.cf), without syslog.
		"maillog_file = " + p.LogPath,
		"maillog_file_prefixes = " + dir,
		"myhostname = " + postfixHostname,
		"mydomain = " + tenantDomain,
		"myorigin = $mydomain",
		"mydestination =",
		"local_recipient_maps =",
		"alias_maps =",
		"alias_database =",
		"biff = no",
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
		"smtpd_banner = $myhostname ESMTP",
		// The company's server relays everything to careerrelay.
		"relayhost = " + nexthop,
		"smtp_sasl_auth_enable = yes",
		"smtp_sasl_password_maps = texthash:" + passwd,
		"smtp_sasl_security_options = noanonymous",
		"smtp_sasl_tls_security_options = noanonymous",
		// TLS required and the relay's certificate verified: signed by
		// the CA file and issued for relay.test.
		"smtp_tls_security_level = secure",
		"smtp_tls_secure_cert_match = " + relayHost,
		"smtp_tls_CAfile = " + caFile,
		"smtp_tls_loglevel = 1",
		// A test does not wait minutes for a retry.
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
	}
	writeFileMode(t, filepath.Join(p.ConfDir, "main.cf"), []byte(strings.Join(main, "\n")+"\n"), 0o644)
	// master.cf: smtpd on 127.0.0.1 port 0 (any free port, which the
	// master binds) instead of port 25, then the services of
	// testdata/postfix-master.cf (shared with bench/).
	services, err := os.ReadFile(filepath.Join("testdata", "postfix-master.cf"))
	if err != nil {
		t.Fatal(err)
	}
	master := "127.0.0.1:0 inet n - n - - smtpd\n" + string(services)
	writeFileMode(t, filepath.Join(p.ConfDir, "master.cf"), []byte(master), 0o644)

	// postfix check: the configuration is sane, and the queue's folders
	// are made with their owners and modes.
	out, err := exec.Command(filepath.Join(inst.command, "postfix"), "-c", p.ConfDir, "check").CombinedOutput()
	if err != nil {
		t.Fatalf("postfix -c %s check: %v\n%s", p.ConfDir, err, out)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		t.Logf("postfix check says:\n%s", out)
	}

	// The master daemon without -w stays in the foreground (it only makes
	// itself a session leader), so it is the test's child: SIGTERM stops
	// it and its daemons, and the kernel sends it SIGTERM if the test
	// process dies first.
	cmd := exec.Command(filepath.Join(inst.daemon, "master"), "-c", p.ConfDir)
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+p.ConfDir)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("postfix: starting master: %v", err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)

	exited := false
	ok := testlib.Poll(startTimeout, func() bool {
		select {
		case <-p.done:
			exited = true
			return true
		default:
		}
		// Postfix says nowhere which port it got: the master's one
		// listening TCP socket tells.
		addrs, err := tcpListeners(cmd.Process.Pid)
		if err != nil || len(addrs) == 0 {
			return false
		}
		if len(addrs) > 1 {
			t.Fatalf("postfix: the master listens on %v, want only its smtpd", addrs)
		}
		p.Addr = addrs[0]
		return testlib.PortOpen(p.Addr)
	})
	switch {
	case exited:
		t.Fatalf("postfix: master exited while starting (%v): %s\nmail log:\n%s", p.waitErr, stderr.Bytes(), p.Log())
	case !ok:
		t.Fatalf("postfix: smtpd not listening (%q) after %v; mail log:\n%s", p.Addr, startTimeout, p.Log())
	}
	return p
}

// tcpListeners returns the IPv4 addresses (host:port) on which process pid
// holds a listening TCP socket, from /proc/PID/fd and /proc/net/tcp.
func tcpListeners(pid int) ([]string, error) {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	table, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, line := range strings.Split(string(table), "\n")[1:] {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		hostHex, portHex, ok := strings.Cut(f[1], ":")
		ip, err1 := strconv.ParseUint(hostHex, 16, 32)
		port, err2 := strconv.ParseUint(portHex, 16, 16)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/%d/net/tcp: %q", pid, line)
		}
		// The address is a 32-bit number in the machine's byte order.
		host := make(net.IP, 4)
		endian.NativeEndian.PutUint32(host, uint32(ip))
		addrs = append(addrs, net.JoinHostPort(host.String(), strconv.FormatUint(port, 10)))
	}
	return addrs, nil
}

// stop sends the master SIGTERM and waits for it (it stops its daemons
// first); after 10s it kills the master's process group. On failure it
// logs the mail log.
func (p *Postfix) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		p.t.Errorf("postfix: master did not exit 10s after SIGTERM; killed")
	}
	if p.t.Failed() {
		p.t.Logf("postfix: mail log %s:\n%s", p.LogPath, p.Log())
	}
}

// Log returns Postfix's mail log so far.
func (p *Postfix) Log() string {
	data, _ := os.ReadFile(p.LogPath)
	return string(data)
}

func writeFileMode(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
