package transport_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/durable"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/store"
)

func captureEnv(t *testing.T) (*queuetest.Env, string) {
	dir := filepath.Join(t.TempDir(), "capture", "out")
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Mode = "capture"
		c.Delivery.CaptureDir = dir
	})
	return e, dir
}

// Capture mode writes one file per recipient, as a local delivery agent
// would, with Return-Path and Delivered-To prepended.
func TestCaptureWritesFiles(t *testing.T) {
	e, dir := captureEnv(t)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("capture dir: %v %v, want a 0755 folder made by New", fi, err)
	}
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp", "hanako@example.jp"}, queuetest.Body)
	e.RunDue(1)
	for i, rcpt := range []string{"taro@example.jp", "hanako@example.jp"} {
		name := filepath.Join(dir, id+"-"+string(rune('1'+i))+".eml")
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		want := "Return-Path: <hr@acme.example>\r\nDelivered-To: " + rcpt + "\r\n" + queuetest.Body
		if string(got) != want {
			t.Errorf("%s =\n%q\nwant\n%q", name, got, want)
		}
		if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", name, fi.Mode().Perm())
		}
	}
	if m := e.Get(id); m != nil {
		t.Errorf("still queued: %+v", m)
	}
}

// A failed write is temporary: the message stays queued.
func TestCaptureWriteFailureDefers(t *testing.T) {
	e, dir := captureEnv(t)
	durable.Fault = func(string) error { return errors.New("disk full") }
	t.Cleanup(func() { durable.Fault = nil })
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	e.RunDue(1)
	m := e.Get(id)
	if m == nil || m.Rcpts[0].State != store.Pending {
		t.Fatalf("message = %+v, want pending", m)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("capture dir holds %v", entries)
	}
	durable.Fault = nil
	e.Clock.Advance(e.Cfg.Delivery.RetrySchedule[0])
	e.RunDue(1)
	if m := e.Get(id); m != nil {
		t.Fatalf("still queued after the disk recovered: %+v", m)
	}
}
