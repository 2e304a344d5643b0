package spill

import (
	"bytes"
	"os"
	"testing"
)

func TestSmallStaysInMemory(t *testing.T) {
	b := New(16, func() (*os.File, error) { t.Fatal("a small buffer made a file"); return nil, nil })
	defer b.Close()
	b.Write([]byte("hello "))
	b.Write([]byte("world"))
	if b.Spilled() || b.Len() != 11 {
		t.Fatalf("Spilled %v Len %d, want false 11", b.Spilled(), b.Len())
	}
	got, err := b.Bytes()
	if err != nil || string(got) != "hello world" {
		t.Fatalf("Bytes = %q, %v", got, err)
	}
}

func TestLargeMovesToAnUnlinkedFile(t *testing.T) {
	var made *os.File
	b := New(1024, func() (*os.File, error) {
		f, err := TempFile()
		made = f
		return f, err
	})
	want := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160,000 octets
	for p := want; len(p) > 0; p = p[min(len(p), 700):] {
		if _, err := b.Write(p[:min(len(p), 700)]); err != nil {
			t.Fatal(err)
		}
	}
	if !b.Spilled() || made == nil {
		t.Fatal("160 KB in a 1 KB buffer did not spill to a file")
	}
	if _, err := os.Stat(made.Name()); !os.IsNotExist(err) {
		t.Errorf("the spill file %s is linked (Stat: %v); it must vanish with the process", made.Name(), err)
	}
	got, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Bytes differ from what was written (len %d, want %d)", len(got), len(want))
	}
	if _, err := b.Write([]byte("x")); err == nil {
		t.Error("Write after Bytes succeeded")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(mapped) != 0 {
		t.Errorf("%d mapping slots still held after Close", len(mapped))
	}
}
