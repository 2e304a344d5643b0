package testlib

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private PostgreSQL server of one test: its own cluster
// (initdb) in a temporary folder, reachable only through a unix socket in
// that folder (listen_addresses is empty: no TCP port to pick or collide
// on), with fsync off. It is stopped and removed when the test ends (the
// folder is kept when the test failed, with the server's log).
//
// Each test starts its own server rather than sharing one per test binary:
// initdb and start take about 0.75 s here, and a server of the test's own
// is stopped by t.Cleanup (a server shared by the process could not be
// stopped at exit from a library) and may be stopped and started by the
// test (Stop, Start) without disturbing others. Tests that need many
// empty databases take them from one server (NewDatabase).
//
// initdb and postgres refuse to run as root, and the tests run as root in
// CI: then both run as the user nobody, and the folder is theirs.
type Postgres struct {
	// DSN is the connection string of the database postgres as the
	// superuser postgres (trust authentication), in key=value form.
	DSN string
	// Dir is the server's folder: the data directory (data/), its log
	// (postgres.log) and the socket.
	Dir string

	t    testing.TB
	bin  string // the folder of initdb and postgres
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	dbs  atomic.Int32
}

// pgStartTimeout bounds how long a server may take to accept connections.
const pgStartTimeout = 60 * time.Second

// StartPostgres starts a private PostgreSQL server for t (NewPostgres) and
// returns the DSN of its database postgres.
func StartPostgres(t testing.TB) (dsn string) {
	t.Helper()
	return NewPostgres(t).DSN
}

// NewPostgres starts a private PostgreSQL server for t and returns once it
// accepts connections. Where PostgreSQL is not installed the test is
// skipped, or fails when CI=true (the Debian package postgresql).
func NewPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := needPostgres(t)
	dir := postgresDir(t)
	p := &Postgres{t: t, bin: bin, Dir: dir,
		DSN: fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", dir)}
	t.Cleanup(func() {
		p.stop(syscall.SIGQUIT) // immediate shutdown: nothing to keep
		if t.Failed() {
			t.Logf("testlib: test failed, keeping the PostgreSQL folder %s; its log:\n%s", dir, p.logTail())
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("testlib: removing %s: %v", dir, err)
		}
	})
	start := time.Now()
	initdb := p.command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testlib: initdb: %v\n%s", err, out)
	}
	p.Start(t)
	t.Logf("testlib: PostgreSQL in %s started in %v", dir, time.Since(start).Round(time.Millisecond))
	return p
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if p.cmd != nil {
		t.Fatal("testlib: PostgreSQL is already running")
	}
	log, err := os.OpenFile(filepath.Join(p.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := p.command(filepath.Join(p.bin, "postgres"), "-D", filepath.Join(p.Dir, "data"),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+p.Dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB", "-c", "max_connections=100")
	cmd.Stdout, cmd.Stderr = log, log
	// The server dies with the test binary, even when it is killed or
	// panics on a timeout before the cleanups run.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		t.Fatalf("testlib: starting postgres: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(pgStartTimeout)
	var last error
	for interval := pollFirst; ; interval = min(interval*2, pollMax) {
		select {
		case <-done:
			p.cmd = nil
			t.Fatalf("testlib: postgres exited at start (%v); its log:\n%s", cmd.ProcessState, p.logTail())
		default:
		}
		if last = p.ping(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlib: PostgreSQL did not accept connections within %v: %v; its log:\n%s", pgStartTimeout, last, p.logTail())
		}
		time.Sleep(interval)
	}
}

// Stop stops the server (a fast shutdown: connections are closed) and
// waits until it has exited.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if p.cmd == nil {
		t.Fatal("testlib: PostgreSQL is not running")
	}
	p.stop(syscall.SIGINT)
}

func (p *Postgres) stop(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(pgStartTimeout):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// NewDatabase creates an empty database on the server and returns its DSN.
func (p *Postgres) NewDatabase(t testing.TB) (dsn string) {
	t.Helper()
	name := "db" + strconv.Itoa(int(p.dbs.Add(1)))
	ctx, cancel := context.WithTimeout(context.Background(), pgStartTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN)
	if err != nil {
		t.Fatalf("testlib: connecting to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testlib: creating database %s: %v", name, err)
	}
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", p.Dir, name)
}

// ping connects once and runs a query.
func (p *Postgres) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// command runs name as the user nobody when this process is root.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = p.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C", "HOME=" + p.Dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		// As setpriv --reuid=nobody --regid=nogroup --clear-groups.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: pgUID, Gid: pgGID, Groups: []uint32{}}
	}
	return cmd
}

// The user and group of nobody and nogroup on Debian.
const pgUID, pgGID = 65534, 65534

func (p *Postgres) logTail() string {
	b, err := os.ReadFile(filepath.Join(p.Dir, "postgres.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// postgresDir creates the server's folder: under the system's temporary
// folder rather than t.TempDir (mode 0700, owned by root), owned by nobody
// when this process is root, every parent traversable by nobody, and with
// a short path (a unix socket's path is at most 107 bytes).
func postgresDir(t testing.TB) string {
	t.Helper()
	base := os.TempDir()
	if os.Geteuid() == 0 && !traversable(base) || len(base) > 60 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "careerrelay-pg-")
	if err != nil {
		t.Fatalf("testlib: creating the PostgreSQL folder: %v", err)
	}
	if os.Geteuid() == 0 {
		if !traversable(base) {
			os.Remove(dir)
			t.Fatalf("testlib: %s is not traversable by the user nobody, who runs PostgreSQL", base)
		}
		if err := os.Chown(dir, pgUID, pgGID); err != nil {
			os.Remove(dir)
			t.Fatalf("testlib: %v", err)
		}
	}
	return dir
}

// traversable reports whether every folder from / to dir may be searched
// by any user.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

var pgBin struct {
	once sync.Once
	dir  string
}

// needPostgres returns the folder of PostgreSQL's server binaries: where
// initdb is on PATH, or Debian's /usr/lib/postgresql/<version>/bin (the
// newest), which is not on PATH. Where there is none the test is skipped,
// or fails when CI=true.
func needPostgres(t testing.TB) string {
	t.Helper()
	pgBin.once.Do(func() { pgBin.dir = findPostgres() })
	if pgBin.dir != "" {
		return pgBin.dir
	}
	const msg = "PostgreSQL's initdb and postgres not found (on PATH or in /usr/lib/postgresql/*/bin)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must install the Debian package postgresql", msg)
	}
	t.Skipf("%s: install the Debian package postgresql", msg)
	return ""
}

func findPostgres() string {
	ok := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && ok(filepath.Dir(real)) {
			return filepath.Dir(real)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if ok(d) {
			return d
		}
	}
	return ""
}
