package config

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EncPrefix marks an encrypted secret value in config.yaml.
const EncPrefix = "enc:v1:"

// machineIDFiles are read in order for this machine's identity; the host name is the last resort.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// MachineKey derives the AES-256 key for secrets at rest from SEED when set, else from the machine identity.
// A config encrypted on one machine therefore only opens on another with the same SEED. Every file SCIM Stream
// encrypts secrets in (config.yaml, a gateway's file) uses it, so a value encrypted by one opens with the other.
func MachineKey() ([]byte, error) {
	seed := os.Getenv("SEED")
	salt := "scim-stream machine"
	if seed == "" {
		for _, f := range machineIDFiles {
			if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) != "" {
				seed = strings.TrimSpace(string(b))
				break
			}
		}
	} else {
		salt = "scim-stream seed"
	}
	if seed == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return nil, errors.New("no machine identity (/etc/machine-id, host name) to derive the secret encryption key from: set SEED")
		}
		seed = h
	}
	return hkdf.Key(sha256.New, []byte(seed), []byte(salt), "config.yaml secrets v1", 32)
}

// EncryptSecret encrypts clear with key (AES-256-GCM, random nonce) as EncPrefix + base64url.
func EncryptSecret(key []byte, clear string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return EncPrefix + base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(clear), nil)), nil
}

var errWrongKey = errors.New("cannot be decrypted on this machine: it was encrypted on another machine or with another SEED; set SEED to the seed used when it was encrypted, or replace the value with the clear text")

// DecryptSecret is the clear text of an EncryptSecret value; its errors say what the operator can do.
func DecryptSecret(key []byte, enc string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(enc, EncPrefix))
	if err != nil {
		return "", errors.New("is not a valid encrypted value (" + EncPrefix + "...): replace it with the clear text")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(raw) < gcm.NonceSize()+gcm.Overhead() {
		return "", errors.New("is not a valid encrypted value (" + EncPrefix + "...): replace it with the clear text")
	}
	clear, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return "", errWrongKey
	}
	return string(clear), nil
}

// secretNode is a scalar under a secret key, with its key path.
type secretNode struct {
	path string
	node *yaml.Node
}

// secretNodes lists the scalar values under secret keys, in document order.
func secretNodes(n *yaml.Node, path string, out []secretNode) []secretNode {
	return secretNodesOf(n, path, IsSecretKey, out)
}

// secretNodesOf lists the non-empty scalar values under the keys isSecret accepts, in document order.
func secretNodesOf(n *yaml.Node, path string, isSecret func(key string) bool, out []secretNode) []secretNode {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			// auth.header values are secrets whatever their names (see isHeaderMap).
			if (isSecret(k.Value) || isHeaderMap(path)) && v.Kind == yaml.ScalarNode && !isNull(v) && v.Value != "" {
				out = append(out, secretNode{p, v})
				continue
			}
			out = secretNodesOf(v, p, isSecret, out)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			out = secretNodesOf(e, fmt.Sprintf("%s[%d]", path, i), isSecret, out)
		}
	}
	return out
}

// isHeaderMap reports whether path is an auth.header map (hr.<tenant>.auth.header): its values are API keys and
// tokens under names of the operator's choosing, so every value there is a secret.
func isHeaderMap(path string) bool { return strings.HasSuffix(path, ".auth.header") }

func hasSecretNodes(root *yaml.Node) bool { return len(secretNodes(root, "", nil)) > 0 }

// encryptFile encrypts every clear-text secret of the file in place, changing only those values' bytes.
func encryptFile(path string, data []byte, root *yaml.Node, key []byte) error {
	return encryptNodes(path, data, secretNodes(root, "", nil), key, false)
}

// encryptNodes encrypts the clear-text values of secrets in the file in place; quote writes them double-quoted
// (what a JSON file needs).
func encryptNodes(path string, data []byte, secrets []secretNode, key []byte, quote bool) error {
	var edits []scalarEdit
	for _, s := range secrets {
		if strings.HasPrefix(s.node.Value, EncPrefix) {
			continue
		}
		enc, err := EncryptSecret(key, s.node.Value)
		if err != nil {
			return fmt.Errorf("config %s: encrypting %s: %w", path, s.path, err)
		}
		if quote {
			enc = `"` + enc + `"`
		}
		edits = append(edits, scalarEdit{node: s.node, path: s.path, text: enc})
	}
	if len(edits) == 0 {
		return nil
	}
	// Serialise with Update, and give up (until the next load) if the file changed since it was read, so that a
	// concurrent write-back is never overwritten with stale content.
	updateMu.Lock()
	defer updateMu.Unlock()
	if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, data) {
		return nil
	}
	out, err := applyScalarEdits(data, edits)
	if err != nil {
		return fmt.Errorf("config %s: encrypting secrets: %w", path, err)
	}
	return writeFileAtomic(path, out)
}

// decryptSecrets replaces encrypted values in the tree with their clear text; failures are reported per key.
func (l *loader) decryptSecrets(root *yaml.Node, path string, key []byte) {
	for _, s := range secretNodes(root, path, nil) {
		if !strings.HasPrefix(s.node.Value, EncPrefix) {
			continue
		}
		clear, err := DecryptSecret(key, s.node.Value)
		if err != nil {
			l.errNode(s.node, s.path, err.Error())
			setNull(s.node)
			continue
		}
		s.node.Value, s.node.Tag, s.node.Style = clear, "!!str", 0
	}
}
