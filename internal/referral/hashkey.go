package referral

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// hashKeyFile is the generated key's file in data_dir, used when
// privacy.hash_key_file is not set.
const hashKeyFile = "privacy-hash.key"

// HashKey returns the privacy hash key: privacy.hash_key_file's when set,
// else the one kept in dir (the store's folder, data_dir) as
// privacy-hash.key, made (32 random bytes, mode 0600) the first time. The
// keyed hashes that stand in for erased addresses and that name addresses
// in logs are made with it.
func HashKey(cfg *configs.Config, dir string) ([]byte, error) {
	if len(cfg.Privacy.HashKey) > 0 {
		return cfg.Privacy.HashKey, nil
	}
	path := filepath.Join(dir, hashKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		b = []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
		if err := writeNew(path, b); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("referral: make the privacy hash key: %w", err)
		}
		b, err = os.ReadFile(path) // another process may have made it first
	}
	if err != nil {
		return nil, fmt.Errorf("referral: privacy hash key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < configs.MinSecretBytes {
		return nil, fmt.Errorf("referral: privacy hash key %s is %d bytes, fewer than %d", path, len(b), configs.MinSecretBytes)
	}
	return b, nil
}

// writeNew creates path with data, synced, and fails when it exists.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keyCheck is what the store keeps of the hash key: an HMAC of a fixed
// text, which tells whether a key is the one the hashes were made with,
// without telling the key.
func keyCheck(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("careerrelay privacy hash key check"))
	return []byte(hex.EncodeToString(m.Sum(nil)[:16]))
}

// ErrHashKeyChanged: the store's hashes were made with another key.
var ErrHashKeyChanged = errors.New("the privacy hash key is not the one this store was written with")

// checkHashKey refuses a key other than the one whose check value the
// store holds: with it, erased candidates' hashes would no longer match
// their addresses, and they could count again. In a new store it records
// the key's check value when write is set, and else reports it missing.
func checkHashKey(tx store.SharedTx, key []byte, write bool) (missing bool, err error) {
	b := tx.Bucket(store.BucketPrivacy)
	want := keyCheck(key)
	got := b.Get([]byte("key_check"))
	switch {
	case got == nil && write:
		return false, b.Put([]byte("key_check"), want)
	case got == nil:
		return true, nil
	case !hmac.Equal(got, want):
		return false, fmt.Errorf("referral: %w (put the old key back in privacy.hash_key_file; with no file set it was data_dir/%s)", ErrHashKeyChanged, hashKeyFile)
	}
	return false, nil
}
