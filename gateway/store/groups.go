package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

func displayName(g map[string]any) (string, error) {
	n, ok := g["displayName"].(string)
	if !ok || strings.TrimSpace(n) == "" {
		return "", fmt.Errorf("displayName is mandatory and must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	return n, nil
}

// withMembers returns the stored group with its computed members attribute.
func withMembers(tx *bolt.Tx, id string, g map[string]any) scim.Group {
	var members []any
	c := tx.Bucket(bucketMembers).Cursor()
	prefix := []byte(id + "\x00")
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		uid := string(k[len(prefix):])
		m := map[string]any{"value": uid, "type": "User"}
		if u, ok, _ := getJSON(tx.Bucket(bucketUsers), []byte(uid)); ok {
			m["display"] = u["userName"]
		}
		members = append(members, m)
	}
	if members != nil {
		g["members"] = members
	}
	return scim.Group(g)
}

func (s *Store) GetGroup(ctx context.Context, id string) (scim.Group, error) {
	var out scim.Group
	err := s.view(ctx, func(tx *bolt.Tx) error {
		g, ok, err := getJSON(tx.Bucket(bucketGroups), []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: group id %q: %w", id, endpoint.ErrNotFound)
		}
		out = withMembers(tx, id, g)
		return nil
	})
	return out, err
}

func (s *Store) ListGroups(ctx context.Context, filter string) ([]scim.Group, error) {
	var out []scim.Group
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if name, ok := eqFilter(filter, "displayName"); ok {
			id := tx.Bucket(bucketGroupNames).Get(nameKey(name))
			if id == nil {
				return nil
			}
			g, ok, err := getJSON(tx.Bucket(bucketGroups), id)
			if ok {
				out = append(out, withMembers(tx, string(id), g))
			}
			return err
		}
		return tx.Bucket(bucketGroups).ForEach(func(k, v []byte) error {
			var g map[string]any
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("record %q is corrupt: %w", k, err)
			}
			out = append(out, withMembers(tx, string(k), g))
			return nil
		})
	})
	return out, err
}

func (s *Store) CreateGroup(ctx context.Context, in scim.Group) (scim.Group, error) {
	g, err := normalize(in)
	if err != nil {
		return nil, fmt.Errorf("store: create group: %w", err)
	}
	name, err := displayName(g)
	if err != nil {
		return nil, fmt.Errorf("store: create group: %w", err)
	}
	members := memberIDs(g["members"])
	delete(g, "members")
	delete(g, "meta")
	id := newID()
	g["id"] = id
	g["meta"] = s.meta("Group", nil)
	var out scim.Group
	err = s.update(ctx, func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketGroupNames)
		if names.Get(nameKey(name)) != nil {
			return fmt.Errorf("store: group %q: displayName is taken: %w", name, endpoint.ErrConflict)
		}
		if err := checkMembers(tx, id, members); err != nil {
			return err
		}
		if err := names.Put(nameKey(name), []byte(id)); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketGroups), []byte(id), g); err != nil {
			return err
		}
		if err := addMembers(tx, id, members); err != nil {
			return err
		}
		out = withMembers(tx, id, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReplaceGroup replaces the group's attributes; when the new value has a members attribute, the membership is
// replaced by it too (PUT semantics of RFC 7644 §3.5.1).
func (s *Store) ReplaceGroup(ctx context.Context, id string, in scim.Group) (scim.Group, error) {
	g, err := normalize(in)
	if err != nil {
		return nil, fmt.Errorf("store: replace group id %q: %w", id, err)
	}
	name, err := displayName(g)
	if err != nil {
		return nil, fmt.Errorf("store: replace group id %q: %w", id, err)
	}
	_, replaceMembers := g["members"]
	members := memberIDs(g["members"])
	delete(g, "members")
	var out scim.Group
	err = s.update(ctx, func(tx *bolt.Tx) error {
		groups := tx.Bucket(bucketGroups)
		old, ok, err := getJSON(groups, []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: group id %q: %w", id, endpoint.ErrNotFound)
		}
		oldName, _ := old["displayName"].(string)
		if replaceMembers {
			if err := checkMembers(tx, id, members); err != nil {
				return err
			}
		}
		if !bytes.Equal(nameKey(oldName), nameKey(name)) {
			names := tx.Bucket(bucketGroupNames)
			if names.Get(nameKey(name)) != nil {
				return fmt.Errorf("store: group %q: displayName %q is taken: %w", oldName, name, endpoint.ErrConflict)
			}
			if err := names.Delete(nameKey(oldName)); err != nil {
				return err
			}
			if err := names.Put(nameKey(name), []byte(id)); err != nil {
				return err
			}
		}
		g["id"] = id
		g["meta"] = s.meta("Group", old)
		if err := putJSON(groups, []byte(id), g); err != nil {
			return err
		}
		if replaceMembers {
			if err := dropMemberships(tx, bucketMembers, bucketMemberOf, id); err != nil {
				return err
			}
			if err := addMembers(tx, id, members); err != nil {
				return err
			}
		}
		out = withMembers(tx, id, g)
		return nil
	})
	return out, err
}

func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		groups := tx.Bucket(bucketGroups)
		old, ok, err := getJSON(groups, []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: group id %q: %w", id, endpoint.ErrNotFound)
		}
		name, _ := old["displayName"].(string)
		if err := tx.Bucket(bucketGroupNames).Delete(nameKey(name)); err != nil {
			return err
		}
		if err := dropMemberships(tx, bucketMembers, bucketMemberOf, id); err != nil {
			return err
		}
		return groups.Delete([]byte(id))
	})
}

func (s *Store) AddMembers(ctx context.Context, groupID string, userIDs ...string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketGroups).Get([]byte(groupID)) == nil {
			return fmt.Errorf("store: group id %q: %w", groupID, endpoint.ErrNotFound)
		}
		return addMembers(tx, groupID, userIDs)
	})
}

func (s *Store) RemoveMembers(ctx context.Context, groupID string, userIDs ...string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketGroups).Get([]byte(groupID)) == nil {
			return fmt.Errorf("store: group id %q: %w", groupID, endpoint.ErrNotFound)
		}
		for _, uid := range userIDs {
			if err := tx.Bucket(bucketMembers).Delete(pair(groupID, uid)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketMemberOf).Delete(pair(uid, groupID)); err != nil {
				return err
			}
		}
		return nil
	})
}

func pair(a, b string) []byte { return []byte(a + "\x00" + b) }

// checkMembers reports the first of userIDs that is not a user. Writes check before they write, so that a
// sentinel error leaves the transaction untouched (a batch transaction goes on with the next message).
func checkMembers(tx *bolt.Tx, groupID string, userIDs []string) error {
	for _, uid := range userIDs {
		if tx.Bucket(bucketUsers).Get([]byte(uid)) == nil {
			return fmt.Errorf("store: group id %q: member user id %q: %w", groupID, uid, endpoint.ErrNotFound)
		}
	}
	return nil
}

func addMembers(tx *bolt.Tx, groupID string, userIDs []string) error {
	if err := checkMembers(tx, groupID, userIDs); err != nil {
		return err
	}
	for _, uid := range userIDs {
		if err := tx.Bucket(bucketMembers).Put(pair(groupID, uid), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMemberOf).Put(pair(uid, groupID), nil); err != nil {
			return err
		}
	}
	return nil
}

// dropMemberships removes every membership of id, which is the first half of keys in index `from` and the
// second half in `mirror`.
func dropMemberships(tx *bolt.Tx, from, mirror []byte, id string) error {
	prefix := []byte(id + "\x00")
	var others []string
	c := tx.Bucket(from).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		others = append(others, string(k[len(prefix):]))
	}
	for _, o := range others {
		if err := tx.Bucket(from).Delete(pair(id, o)); err != nil {
			return err
		}
		if err := tx.Bucket(mirror).Delete(pair(o, id)); err != nil {
			return err
		}
	}
	return nil
}

// memberIDs reads [{value: userID}, …].
func memberIDs(v any) []string {
	arr, _ := v.([]any)
	var ids []string
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			if id, ok := m["value"].(string); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
