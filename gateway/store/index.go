package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/scim-stream/scim-stream/scim"
)

// UsersPage reads users [start, start+count) in id order (the users bucket is a B+tree keyed by id) and the total
// number of users: a paged list decodes only its page, however many users the store holds. Walking the keys before
// start costs no decoding; ctx is checked while walking, so a client that went away stops the work.
func (s *Store) UsersPage(ctx context.Context, start, count int) ([]scim.User, int, error) {
	var out []scim.User
	total := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		// user_names has one key per user, like users, and far smaller values: cheaper to count.
		total = tx.Bucket(bucketUserNames).Stats().KeyN
		c := tx.Bucket(bucketUsers).Cursor()
		i := 0
		for k, v := c.First(); k != nil && i < start+count; k, v = c.Next() {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if i >= start {
				var u map[string]any
				if err := json.Unmarshal(v, &u); err != nil {
					return fmt.Errorf("record %q is corrupt: %w", k, err)
				}
				out = append(out, withGroups(tx, string(k), u))
			}
			i++
		}
		return nil
	})
	return out, total, err
}
