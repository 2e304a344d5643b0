// Package durable is the one path by which careerrelay writes files: a temp
// file in the target folder, fsync, rename over the target, fsync of the
// folder. A reader never sees a half-written file, and after WriteFile
// returns the file survives a crash.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// Fault, when set (by tests only), is called before each write with the
// target path; an error it returns fails the write as a disk error would.
var Fault func(path string) error

// WriteFile writes data to path atomically and durably with mode perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if Fault != nil {
		if err := Fault(path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir fsyncs a folder so that entries created or renamed in it persist.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
