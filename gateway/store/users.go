package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// Attributes the store computes or keeps apart: a caller's values for them are ignored (id, meta, groups) or
// hashed and never returned (password, SCIM "returned: never").
var readOnlyUserAttrs = []string{"id", "meta", "groups"}

func nameKey(name string) []byte { return []byte(strings.ToLower(name)) }

// userName returns the user's userName or an ErrInvalid error.
func userName(u map[string]any) (string, error) {
	n, ok := u["userName"].(string)
	if !ok || strings.TrimSpace(n) == "" {
		return "", fmt.Errorf("userName is mandatory and must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	if a, present := u["active"]; present && a != nil {
		if _, ok := a.(bool); !ok {
			return "", fmt.Errorf("user %q: active must be a boolean, not %T: %w", n, a, endpoint.ErrInvalid)
		}
	}
	return n, nil
}

func getJSON(b *bolt.Bucket, key []byte) (map[string]any, bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return nil, false, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, fmt.Errorf("record %q is corrupt: %w", key, err)
	}
	return m, true, nil
}

func putJSON(b *bolt.Bucket, key []byte, m map[string]any) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// takePassword removes the password from u and returns its bcrypt hash (nil when absent).
func takePassword(u map[string]any) ([]byte, error) {
	p, present := u["password"]
	delete(u, "password")
	if !present || p == nil {
		return nil, nil
	}
	ps, ok := p.(string)
	if !ok || ps == "" {
		return nil, fmt.Errorf("password must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	if len(ps) > 72 {
		return nil, fmt.Errorf("password is longer than 72 bytes: %w", endpoint.ErrInvalid)
	}
	return bcrypt.GenerateFromPassword([]byte(ps), bcrypt.DefaultCost)
}

// withGroups returns the stored user with its computed groups attribute.
func withGroups(tx *bolt.Tx, id string, u map[string]any) scim.User {
	var groups []any
	c := tx.Bucket(bucketMemberOf).Cursor()
	prefix := []byte(id + "\x00")
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		gid := string(k[len(prefix):])
		g, ok, _ := getJSON(tx.Bucket(bucketGroups), []byte(gid))
		if !ok {
			continue
		}
		groups = append(groups, map[string]any{"value": gid, "display": g["displayName"], "type": "direct"})
	}
	if groups != nil {
		u["groups"] = groups
	}
	return scim.User(u)
}

func (s *Store) FindUser(ctx context.Context, name string) (scim.User, error) {
	var out scim.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUserNames).Get(nameKey(name))
		if id == nil {
			return fmt.Errorf("store: user %q: %w", name, endpoint.ErrNotFound)
		}
		u, ok, err := getJSON(tx.Bucket(bucketUsers), id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: user %q: %w", name, endpoint.ErrNotFound)
		}
		out = withGroups(tx, string(id), u)
		return nil
	})
	return out, err
}

func (s *Store) GetUser(ctx context.Context, id string) (scim.User, error) {
	var out scim.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		u, ok, err := getJSON(tx.Bucket(bucketUsers), []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: user id %q: %w", id, endpoint.ErrNotFound)
		}
		out = withGroups(tx, id, u)
		return nil
	})
	return out, err
}

// eqFilterRe recognises the one filter the store narrows by (an index lookup); any other filter returns
// everything, which the Endpoint contract allows.
var eqFilterRe = regexp.MustCompile(`^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$`)

func eqFilter(filter, attr string) (string, bool) {
	m := eqFilterRe.FindStringSubmatch(filter)
	if m == nil || !strings.EqualFold(m[1], attr) {
		return "", false
	}
	var v string
	if err := json.Unmarshal([]byte(`"`+m[2]+`"`), &v); err != nil {
		return "", false
	}
	return v, true
}

func (s *Store) ListUsers(ctx context.Context, filter string) ([]scim.User, error) {
	if name, ok := eqFilter(filter, "userName"); ok {
		u, err := s.FindUser(ctx, name)
		if err != nil {
			if errors.Is(err, endpoint.ErrNotFound) {
				return nil, nil
			}
			return nil, err
		}
		return []scim.User{u}, nil
	}
	var out []scim.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n := 0
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			// A client that went away stops a scan of a large store.
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			var u map[string]any
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("record %q is corrupt: %w", k, err)
			}
			out = append(out, withGroups(tx, string(k), u))
			return nil
		})
	})
	return out, err
}

func (s *Store) CreateUser(ctx context.Context, in scim.User) (scim.User, error) {
	u, err := normalize(in)
	if err != nil {
		return nil, fmt.Errorf("store: create user: %w", err)
	}
	name, err := userName(u)
	if err != nil {
		return nil, fmt.Errorf("store: create user: %w", err)
	}
	for _, a := range readOnlyUserAttrs {
		delete(u, a)
	}
	hash, err := takePassword(u)
	if err != nil {
		return nil, fmt.Errorf("store: create user %q: %w", name, err)
	}
	id := newID()
	u["id"] = id
	u["meta"] = s.meta("User", nil)
	err = s.update(ctx, func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketUserNames)
		if names.Get(nameKey(name)) != nil {
			return fmt.Errorf("store: user %q: userName is taken: %w", name, endpoint.ErrConflict)
		}
		if err := names.Put(nameKey(name), []byte(id)); err != nil {
			return err
		}
		if hash != nil {
			if err := tx.Bucket(bucketPasswords).Put([]byte(id), hash); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bucketUsers), []byte(id), u)
	})
	if err != nil {
		return nil, err
	}
	return scim.User(u), nil
}

func (s *Store) ReplaceUser(ctx context.Context, id string, in scim.User) (scim.User, error) {
	u, err := normalize(in)
	if err != nil {
		return nil, fmt.Errorf("store: replace user id %q: %w", id, err)
	}
	if _, err := userName(u); err != nil {
		return nil, fmt.Errorf("store: replace user id %q: %w", id, err)
	}
	return s.changeUser(ctx, id, func(old map[string]any) (map[string]any, error) {
		for _, a := range readOnlyUserAttrs {
			delete(u, a)
		}
		return u, nil
	})
}

func (s *Store) ModifyUser(ctx context.Context, id string, changes scim.User) (scim.User, error) {
	c, err := normalize(changes)
	if err != nil {
		return nil, fmt.Errorf("store: modify user id %q: %w", id, err)
	}
	for _, a := range readOnlyUserAttrs {
		delete(c, a)
	}
	return s.changeUser(ctx, id, func(old map[string]any) (map[string]any, error) {
		merged := merge(old, c)
		if _, err := userName(merged); err != nil {
			return nil, err
		}
		return merged, nil
	})
}

// changeUser replaces the stored user with change(old), keeping id and meta.created, the userName index and the
// password hash consistent.
func (s *Store) changeUser(ctx context.Context, id string, change func(old map[string]any) (map[string]any, error)) (scim.User, error) {
	var out scim.User
	err := s.update(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		old, ok, err := getJSON(users, []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: user id %q: %w", id, endpoint.ErrNotFound)
		}
		oldName, _ := old["userName"].(string)
		u, err := change(old)
		if err != nil {
			return fmt.Errorf("store: user %q: %w", oldName, err)
		}
		hash, err := takePassword(u)
		if err != nil {
			return fmt.Errorf("store: user %q: %w", oldName, err)
		}
		newName, _ := u["userName"].(string)
		renamed := !bytes.Equal(nameKey(oldName), nameKey(newName))
		// Checks come before the first write: a sentinel error leaves the transaction untouched (a batch goes on).
		if renamed && tx.Bucket(bucketUserNames).Get(nameKey(newName)) != nil {
			return fmt.Errorf("store: user %q: userName %q is taken: %w", oldName, newName, endpoint.ErrConflict)
		}
		if hash != nil {
			if err := tx.Bucket(bucketPasswords).Put([]byte(id), hash); err != nil {
				return err
			}
		}
		if renamed {
			names := tx.Bucket(bucketUserNames)
			if err := names.Delete(nameKey(oldName)); err != nil {
				return err
			}
			if err := names.Put(nameKey(newName), []byte(id)); err != nil {
				return err
			}
		}
		u["id"] = id
		u["meta"] = s.meta("User", old)
		if err := putJSON(users, []byte(id), u); err != nil {
			return err
		}
		out = withGroups(tx, id, u)
		return nil
	})
	return out, err
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		old, ok, err := getJSON(users, []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: user id %q: %w", id, endpoint.ErrNotFound)
		}
		name, _ := old["userName"].(string)
		if err := tx.Bucket(bucketUserNames).Delete(nameKey(name)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPasswords).Delete([]byte(id)); err != nil {
			return err
		}
		if err := dropMemberships(tx, bucketMemberOf, bucketMembers, id); err != nil {
			return err
		}
		return users.Delete([]byte(id))
	})
}

// HasPassword reports whether the user has a password (passwords are stored hashed and never returned).
func (s *Store) HasPassword(ctx context.Context, id string) (bool, error) {
	var has bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		has = tx.Bucket(bucketPasswords).Get([]byte(id)) != nil
		return nil
	})
	return has, err
}

// merge applies soft-sync changes to old: a null removes the attribute, objects merge attribute by attribute,
// anything else (strings, numbers, multi-valued arrays) replaces the old value.
func merge(old, changes map[string]any) map[string]any {
	out := make(map[string]any, len(old)+len(changes))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		if cm, ok := v.(map[string]any); ok {
			om, _ := out[k].(map[string]any)
			out[k] = merge(om, cm) // also drops nulls inside a new object
			continue
		}
		out[k] = v
	}
	return out
}
