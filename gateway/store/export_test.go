package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// LoadUsersForBench writes n users named user<i> as CreateUser would, in transactions of 10,000: a benchmark's
// 100,000 users in seconds rather than 100,000 durable commits.
func LoadUsersForBench(ctx context.Context, s *Store, n int, attrs func(i int) map[string]any) error {
	for from := 0; from < n; from += 10000 {
		err := s.update(ctx, func(tx *bolt.Tx) error {
			for i := from; i < min(from+10000, n); i++ {
				u := attrs(i)
				name := fmt.Sprintf("user%07d@example.com", i)
				u["userName"] = name
				u["schemas"] = []any{"urn:ietf:params:scim:schemas:core:2.0:User"}
				id := newID()
				u["id"], u["meta"] = id, s.meta("User", nil)
				if err := tx.Bucket(bucketUserNames).Put(nameKey(name), []byte(id)); err != nil {
					return err
				}
				if err := putJSON(tx.Bucket(bucketUsers), []byte(id), u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
