package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
)

// Secrets in a gateway file are encrypted at rest exactly like config.yaml's (same "enc:v1:" format, same key
// from SEED or the machine identity), so a value encrypted by one opens with the other.
//
// The config package keeps its helpers unexported; this file mirrors its key derivation and cipher. If the
// config package exports them (EncryptSecret/DecryptSecret/MachineKey), this file shrinks to the in-place edit.

// machineIDFiles are read in order for this machine's identity; the host name is the last resort.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

func machineKey() ([]byte, error) {
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

func encryptSecret(key []byte, clear string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return config.EncPrefix + base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(clear), nil)), nil
}

func decryptSecret(key []byte, enc string) (string, error) {
	bad := errors.New("is not a valid encrypted value (" + config.EncPrefix + "...): replace it with the clear text")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(enc, config.EncPrefix))
	if err != nil {
		return "", bad
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
		return "", bad
	}
	clear, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return "", errors.New("cannot be decrypted on this machine: it was encrypted on another machine or with another SEED; set SEED to the seed used when it was encrypted, or replace the value with the clear text")
	}
	return string(clear), nil
}

// isSecretKey covers config.yaml's secret keys and the Node gateway's camelCase ones (auth.bearerOAuth
// clientSecret, azureRelay apiKey).
func isSecretKey(k string) bool {
	return config.IsSecretKey(k) || strings.HasSuffix(k, "Secret") || k == "apiKey"
}

type secretNode struct {
	path string
	node *yaml.Node
}

// secretNodes lists the non-empty scalar values under secret keys, in document order.
func secretNodes(n *yaml.Node, path string, out []secretNode) []secretNode {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if isSecretKey(k.Value) && v.Kind == yaml.ScalarNode && v.Tag != "!!null" && v.Value != "" {
				out = append(out, secretNode{p, v})
				continue
			}
			out = secretNodes(v, p, out)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			out = secretNodes(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
	return out
}

// encryptInPlace rewrites the file with every clear-text secret encrypted, changing only those values' bytes
// (JSON stays JSON, YAML comments stay). A file that changed since data was read is left alone.
func encryptInPlace(path string, data []byte, secrets []secretNode, key []byte) error {
	type span struct {
		start, end int
		text       string
	}
	lineStarts := []int{0}
	for i, b := range data {
		if b == '\n' {
			lineStarts = append(lineStarts, i+1)
		}
	}
	var spans []span
	for _, s := range secrets {
		if strings.HasPrefix(s.node.Value, config.EncPrefix) {
			continue
		}
		start, end, err := scalarSpan(data, lineStarts, s.node)
		if err != nil {
			return fmt.Errorf("gateway config %s: %s: %w", path, s.path, err)
		}
		enc, err := encryptSecret(key, s.node.Value)
		if err != nil {
			return fmt.Errorf("gateway config %s: encrypting %s: %w", path, s.path, err)
		}
		spans = append(spans, span{start, end, `"` + enc + `"`})
	}
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start > spans[j].start })
	out := append([]byte(nil), data...)
	for _, s := range spans {
		out = append(out[:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	if now, err := os.ReadFile(path); err != nil || string(now) != string(data) {
		return nil
	}
	return writeFileAtomic(path, out)
}

// scalarSpan finds the bytes of a single-line scalar from the node's line and column.
func scalarSpan(data []byte, lineStarts []int, n *yaml.Node) (int, int, error) {
	if n.Line < 1 || n.Line > len(lineStarts) {
		return 0, 0, errors.New("value not found in the file")
	}
	off := lineStarts[n.Line-1]
	for c := 1; c < n.Column; c++ { // Column counts characters, not bytes
		if off >= len(data) {
			return 0, 0, errors.New("value not found in the file")
		}
		_, w := utf8.DecodeRune(data[off:])
		off += w
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		for i := off + 1; i < len(data); i++ {
			switch data[i] {
			case '\\':
				i++
			case '"':
				return off, i + 1, nil
			case '\n':
				return 0, 0, errors.New("multi-line quoted values cannot be encrypted in place: put the value on one line")
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		for i := off + 1; i < len(data); i++ {
			switch data[i] {
			case '\'':
				if i+1 < len(data) && data[i+1] == '\'' {
					i++
					continue
				}
				return off, i + 1, nil
			case '\n':
				return 0, 0, errors.New("multi-line quoted values cannot be encrypted in place: put the value on one line")
			}
		}
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0:
		if strings.HasPrefix(string(data[off:]), n.Value) {
			return off, off + len(n.Value), nil
		}
	}
	return 0, 0, errors.New("multi-line values cannot be encrypted in place: put the value on one line")
}

func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("gateway config %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("gateway config %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("gateway config %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("gateway config %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gateway config %s: %w", path, err)
	}
	return nil
}
