// Package store is the gateway's embedded endpoint: users and groups in one bbolt file next to the gateway's
// configuration, with the behaviour of a small SCIM service provider (ids, meta, case-insensitive userName
// uniqueness, group membership in both directions). It is the default endpoint (`endpoint: {type: store}`).
package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// Buckets. Names are keyed case-insensitively (lower case); memberships are indexed both ways so that a group's
// members and a user's groups are prefix scans, and adding a member never rewrites a large group.
var (
	bucketUsers      = []byte("users")       // id -> user JSON (with id and meta, without groups and password)
	bucketUserNames  = []byte("user_names")  // lower(userName) -> id
	bucketGroups     = []byte("groups")      // id -> group JSON (with id and meta, without members)
	bucketGroupNames = []byte("group_names") // lower(displayName) -> id
	bucketMembers    = []byte("members")     // groupID \x00 userID -> ""
	bucketMemberOf   = []byte("member_of")   // userID \x00 groupID -> ""
	bucketPasswords  = []byte("passwords")   // userID -> bcrypt hash
	allBuckets       = [][]byte{bucketUsers, bucketUserNames, bucketGroups, bucketGroupNames, bucketMembers, bucketMemberOf, bucketPasswords}
)

// lockTimeout bounds the wait for the file lock: a second gateway on the same file must fail fast, not hang.
const lockTimeout = 2 * time.Second

// Store is the embedded endpoint. It is safe for concurrent use.
type Store struct {
	path string
	// mu guards db: nil while suspended. Operations hold it shared for the length of their transaction, so
	// Suspend waits for them and then closes the file.
	mu  sync.RWMutex
	db  *bolt.DB
	now func() time.Time
}

var _ endpoint.Endpoint = (*Store)(nil)

// Open opens (creating if needed) the store file at path.
func Open(path string) (*Store, error) {
	s := &Store{path: path, now: func() time.Time { return time.Now().UTC() }}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) open() error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("store %s: the file is locked by another process (another gateway on the same store?): %w", s.path, endpoint.ErrUnavailable)
		}
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	s.db = db
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Suspend closes the file while the gateway keeps running, so that it can be copied or replaced; until Resume
// every operation fails with endpoint.ErrUnavailable and the subscriber retries its messages later.
func (s *Store) Suspend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// Resume reopens the file after Suspend.
func (s *Store) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return nil
	}
	return s.open()
}

// Close closes the file; the store cannot be used afterwards.
func (s *Store) Close() error { return s.Suspend() }

// view and update run fn in a transaction; a suspended or failing file is reported as unavailable, and errors
// fn returns (which already wrap a gateway sentinel) pass through.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return s.tx(ctx, false, fn)
}

func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return s.tx(ctx, true, fn)
}

func (s *Store) tx(ctx context.Context, write bool, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store %s: %w: %w", s.path, endpoint.ErrUnavailable, err)
	}
	if err, ok := s.inBatch(ctx, write, fn); ok {
		if err == nil || isSentinel(err) {
			return err
		}
		return fmt.Errorf("store %s: %w: %w", s.path, endpoint.ErrUnavailable, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("store %s: suspended or closed: %w", s.path, endpoint.ErrUnavailable)
	}
	var err error
	if write {
		err = s.db.Update(fn)
	} else {
		err = s.db.View(fn)
	}
	if err == nil || isSentinel(err) {
		return err
	}
	return fmt.Errorf("store %s: %w: %w", s.path, endpoint.ErrUnavailable, err)
}

func isSentinel(err error) bool {
	return errors.Is(err, endpoint.ErrNotFound) || errors.Is(err, endpoint.ErrConflict) ||
		errors.Is(err, endpoint.ErrInvalid) || errors.Is(err, endpoint.ErrUnavailable)
}

// newID returns a random (version 4) UUID: ids must not reveal userNames and must stay unique across restores.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// normalize deep-copies v into the types encoding/json produces, so stored values never alias the caller's.
func normalize[T ~map[string]any](v T) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %v: %w", err, endpoint.ErrInvalid)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("not representable as JSON: %v: %w", err, endpoint.ErrInvalid)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

func (s *Store) meta(resourceType string, old map[string]any) map[string]any {
	now := s.now().Format(time.RFC3339Nano)
	m := map[string]any{"resourceType": resourceType, "created": now, "lastModified": now, "version": `W/"1"`}
	if om, ok := old["meta"].(map[string]any); ok {
		if c, ok := om["created"].(string); ok {
			m["created"] = c
		}
		var n int
		if v, ok := om["version"].(string); ok {
			fmt.Sscanf(v, `W/"%d"`, &n)
		}
		m["version"] = fmt.Sprintf(`W/"%d"`, n+1)
	}
	return m
}

// config is the store's `endpoint:` block.
type config struct {
	Type string `yaml:"type"`
	// File is the bbolt file, relative to the gateway config's directory; default <gateway name>.db.
	File string `yaml:"file"`
}

// Type is the endpoint type in the gateway configuration (`endpoint: {type: store}`), the default.
const Type = "store"

// OpenConfig opens the store of an `endpoint:` configuration node: it is this package's endpoint.Factory.
func OpenConfig(ctx context.Context, node *yaml.Node, env endpoint.Env) (endpoint.Endpoint, error) {
	var c config
	if node != nil {
		if err := node.Decode(&c); err != nil {
			return nil, fmt.Errorf("endpoint: %w", err)
		}
		warnUnknown(node, env)
	}
	if c.File == "" {
		name := env.Name
		if name == "" {
			name = "gateway"
		}
		c.File = name + ".db"
	}
	if !filepath.IsAbs(c.File) {
		c.File = filepath.Join(env.Dir, c.File)
	}
	return Open(c.File)
}

// warnUnknown logs keys the store does not use: a Node plugin's `endpoint` block is accepted as it is (so the
// file runs unchanged) but its settings mean nothing to the store.
func warnUnknown(node *yaml.Node, env endpoint.Env) {
	if node.Kind != yaml.MappingNode || env.Log == nil {
		return
	}
	var unknown []string
	for i := 0; i+1 < len(node.Content); i += 2 {
		switch k := node.Content[i].Value; k {
		case "type", "file":
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		env.Log.Warn("endpoint: keys ignored by the store endpoint (it uses only type and file)", "keys", unknown)
	}
}
