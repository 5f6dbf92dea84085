package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// DefaultPath is where the binary looks for its configuration.
var DefaultPath = filepath.Join("config", "config.yaml")

// Dir is the configuration directory: certificates live in Dir/certs and collector state next to the file.
func Dir(path string) string { return filepath.Dir(path) }

// CertsDir is Dir(path)/certs.
func CertsDir(path string) string { return filepath.Join(Dir(path), "certs") }

// origin says where a node's value came from when it was not the file (an environment variable, a vault file).
type origin struct {
	file string
	line int
}

type loader struct {
	file   string
	errs   ErrorList
	nodes  map[string]*yaml.Node // value node by key path
	keys   map[string]*yaml.Node // key node by key path (mapping entries only)
	origin map[*yaml.Node]origin // values set from outside the file
	// bad holds the paths already reported while reading (decryption, types), so that validation does not add a
	// second, misleading error for the value it could not read ("is mandatory").
	bad        map[string]bool
	validating bool
}

func newLoader(file string) *loader {
	return &loader{file: file, nodes: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, origin: map[*yaml.Node]origin{}, bad: map[string]bool{}}
}

// errNode reports a problem at node n (its line, or the variable that set it).
func (l *loader) errNode(n *yaml.Node, path, msg string) {
	if !l.validating {
		l.bad[path] = true
	}
	e := &Error{File: l.file, Path: path, Msg: msg}
	if n != nil {
		e.Line = n.Line
		if o, ok := l.origin[n]; ok {
			e.File, e.Line = o.file, o.line
		}
	}
	l.errs = append(l.errs, e)
}

// errLine reports a problem at a line of the file (list entries that remember their line).
func (l *loader) errLine(line int, path, msg string) {
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Path: path, Msg: msg})
}

// errAt reports a problem at a key path, using the key's line when the path exists, else its nearest parent's.
func (l *loader) errAt(path, msg string) {
	if l.bad[path] {
		return
	}
	l.errNode(l.nodeFor(path), path, msg)
}

func (l *loader) nodeFor(path string) *yaml.Node {
	for p := path; p != ""; {
		if n := l.nodes[p]; n != nil {
			if _, fromEnv := l.origin[n]; !fromEnv {
				if k := l.keys[p]; k != nil {
					return k
				}
			}
			return n
		}
		i := max(bytes.LastIndexByte([]byte(p), '.'), bytes.LastIndexByte([]byte(p), '['))
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil
}

// present reports whether path was written in the file or set from the environment (and not null).
func (l *loader) present(path string) bool {
	n := l.nodes[path]
	return n != nil && !isNull(n)
}

// Load reads the configuration at path for running: clear-text secrets in the file are encrypted in place
// (the rest of the file is kept byte for byte), then environment and vault overrides are applied, secrets are
// decrypted, defaults filled in and everything validated. A validation failure returns an ErrorList with every
// problem. The secrets of a loaded configuration are registered for log masking.
func Load(path string) (*Config, error) { return load(path, true) }

// Check is Load without writing anything: the file is left as it is (clear-text secrets stay clear). It is
// what `scim-stream check` uses.
func Check(path string) (*Config, error) { return load(path, false) }

func load(path string, encrypt bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	l := newLoader(path)
	root, err := l.parse(data)
	if err != nil {
		return nil, err
	}
	var key []byte
	needKey := hasSecretNodes(root)
	if needKey {
		if key, err = MachineKey(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if encrypt && needKey {
		if err := encryptFile(path, data, root, key); err != nil {
			return nil, err
		}
	}
	// Register the file's clear-text secrets before overrides replace any: a replaced one must not leak either.
	for _, s := range secretNodes(root, "", nil) {
		if !strings.HasPrefix(s.node.Value, EncPrefix) {
			RegisterSecret(s.node.Value)
		}
	}
	// Overrides first, then decryption: a value the environment or vault file replaces is not decrypted, so a file
	// copied from another machine loads once its secrets come from the environment (no wrong-SEED error for them).
	l.applyOverrides(root)
	if !needKey && hasSecretNodes(root) {
		if key, err = MachineKey(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	l.decryptSecrets(root, "", key)
	l.walk(root, reflect.TypeFor[Config](), "")
	cfg := &Config{}
	if err := root.Decode(cfg); err != nil {
		// The walk removed everything it found wrong, so this is a case it does not know: report it as is.
		l.errs = append(l.errs, &Error{File: path, Msg: yamlMsg(err)})
	}
	l.validating = true
	l.defaults(cfg)
	l.validate(cfg)
	registerSecrets(cfg)
	if len(l.errs) > 0 {
		l.errs.sort()
		return nil, l.errs
	}
	if encrypt {
		rememberLoaded(path, cfg)
	}
	return cfg, nil
}

// loaded is the snapshot the last successful Load of each file (by absolute path) returned. A Watcher starts
// from it, so that the rewrite Load itself makes when it encrypts secrets at start-up is not taken for an edit.
var loaded struct {
	sync.Mutex
	m map[string]*Config
}

func rememberLoaded(path string, c *Config) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	loaded.Lock()
	defer loaded.Unlock()
	if loaded.m == nil {
		loaded.m = map[string]*Config{}
	}
	loaded.m[abs] = c
}

func lastLoaded(path string) *Config {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	loaded.Lock()
	defer loaded.Unlock()
	return loaded.m[abs]
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse returns the document's root node (an empty mapping for an empty file).
func (l *loader) parse(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: l.file, Msg: yamlMsg(err)}
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		return nil, ErrorList{e}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, nil
	}
	root := doc.Content[0]
	if isNull(root) {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: l.file, Line: root.Line, Msg: "the configuration must be a mapping (entra, hr, log, email, nats)"}}
	}
	return root, nil
}

// IsErrorList reports whether err carries configuration problems (as opposed to an I/O error).
func IsErrorList(err error) (ErrorList, bool) {
	var l ErrorList
	ok := errors.As(err, &l)
	return l, ok
}
