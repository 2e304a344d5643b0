package testlib

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgres: a private server accepts connections on its socket, makes
// databases, stops (connections fail) and starts again with its data.
func TestPostgres(t *testing.T) {
	p := NewPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec := func(dsn, sql string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	dsn := p.NewDatabase(t)
	if err := exec(dsn, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)
	if err := exec(dsn, "SELECT 1"); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	p.Start(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil || x != 7 {
		t.Fatalf("after a restart: %d, %v; want 7", x, err)
	}
	if dsn2 := StartPostgres(t); dsn2 == p.DSN {
		t.Fatal("two servers share a DSN")
	}
}
