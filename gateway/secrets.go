package gateway

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
)

// Secrets in a gateway file are encrypted at rest by the config package exactly like config.yaml's (same "enc:v1:"
// format, same key from SEED or the machine identity), so a value encrypted by one opens with the other.

// isSecretKey covers config.yaml's secret keys and the Node gateway's camelCase ones (auth.bearerOAuth
// clientSecret, azureRelay apiKey).
func isSecretKey(k string) bool {
	return config.IsSecretKey(k) || strings.HasSuffix(k, "Secret") || k == "apiKey"
}

// openSecrets encrypts the clear-text secrets of the file at path (data: its bytes, root: its parsed top-level
// object) in place, then replaces the encrypted values in root with their clear text. Every secret is registered
// for log masking. A value that cannot be decrypted is reported with its line and key.
func openSecrets(path string, data []byte, root *yaml.Node) error {
	secrets := config.SecretValues(root, isSecretKey)
	if len(secrets) == 0 {
		return nil
	}
	key, err := config.MachineKey()
	if err != nil {
		return fmt.Errorf("gateway config %s: %w", path, err)
	}
	if err := config.EncryptInPlace(path, data, secrets, key); err != nil {
		return err
	}
	var errs []error
	for _, s := range secrets {
		if strings.HasPrefix(s.Node.Value, config.EncPrefix) {
			clear, err := config.DecryptSecret(key, s.Node.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("gateway config %s:%d: %s: %w", path, s.Node.Line, s.Path, err))
				continue
			}
			s.Node.Value, s.Node.Tag, s.Node.Style = clear, "!!str", 0
		}
		config.RegisterSecret(s.Node.Value)
	}
	return errors.Join(errs...)
}
