package broker

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/scim-stream/scim-stream/config"
)

// keyCheckFile holds a value sealed with the encryption_at_rest_key the store was written with, so that a start
// with another key stops at once with an error naming the key — instead of nats-server's "error creating store for
// stream", or streams that silently fail to load.
const keyCheckFile = "at-rest-key.check"

var keyCheckPlain = []byte("scim-stream encryption_at_rest_key check")

func keyCheckAEAD(key config.Secret) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte("scim-stream at-rest key check\x00" + key.Reveal()))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// checkAtRestKey verifies key against the store in dir, recording it on the first start with a key.
func checkAtRestKey(dir string, key config.Secret) error {
	path := filepath.Join(dir, keyCheckFile)
	sealed, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if key == "" {
			return nil
		}
		gcm, err := keyCheckAEAD(key)
		if err != nil {
			return err
		}
		nonce := make([]byte, gcm.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("broker: store %s: %w", dir, err)
		}
		return os.WriteFile(path, gcm.Seal(nonce, nonce, keyCheckPlain, nil), 0o600)
	case err != nil:
		return fmt.Errorf("broker: reading %s: %w", path, err)
	}
	if key == "" {
		return fmt.Errorf("broker: the JetStream store %s is encrypted, but nats.server.encryption_at_rest_key is not set: set the key it was written with", dir)
	}
	gcm, err := keyCheckAEAD(key)
	if err != nil {
		return err
	}
	n := gcm.NonceSize()
	if len(sealed) < n {
		return fmt.Errorf("broker: %s is damaged: remove it to skip the nats.server.encryption_at_rest_key check", path)
	}
	if _, err := gcm.Open(nil, sealed[:n], sealed[n:], nil); err != nil {
		return fmt.Errorf("broker: nats.server.encryption_at_rest_key is not the key the JetStream store %s was written with: set the original key (the store cannot be read with another)", dir)
	}
	return nil
}
