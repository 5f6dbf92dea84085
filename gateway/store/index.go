package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/scim-stream/scim-stream/scim"
)

// UsersPage reads users [start, start+count) in userName order and the total number of users: a paged list
// decodes only its page, however many users the store holds. It seeks in the user_names index to the page (see
// positions) and reads only the page's users; ctx is checked while walking, so a client that went away stops the
// work.
func (s *Store) UsersPage(ctx context.Context, start, count int) ([]scim.User, int, error) {
	var out []scim.User
	total := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketUserNames)
		pos, err := positions(ctx, s, tx, names)
		if err != nil {
			return err
		}
		total = pos.n
		if start >= pos.n || count <= 0 {
			return nil
		}
		users := tx.Bucket(bucketUsers)
		c := names.Cursor()
		k, id := c.Seek(pos.marks[start/markEvery])
		for i := start / markEvery * markEvery; k != nil && i < start; i++ {
			k, id = c.Next()
		}
		for ; k != nil && len(out) < count; k, id = c.Next() {
			v := users.Get(id)
			if v == nil {
				continue // the index names a user that is gone
			}
			var u map[string]any
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("record %q is corrupt: %w", id, err)
			}
			out = append(out, withGroups(tx, string(id), u))
		}
		return nil
	})
	return out, total, err
}

// markEvery is the distance between two remembered index positions.
const markEvery = 1024

// userPositions are, at one transaction id, the number of users and every markEvery-th key of user_names: a page
// at startIndex 90,001 seeks to the 87th mark and steps at most 1,023 keys, instead of walking 90,000. Between two
// writes every page of every listing uses the same positions; after a write, the first listing walks the index
// once (about as much as counting it).
type userPositions struct {
	txid  int
	n     int
	marks [][]byte
}

var positionCache sync.Map // *Store → *userPositions

func positions(ctx context.Context, s *Store, tx *bolt.Tx, names *bolt.Bucket) (*userPositions, error) {
	if v, ok := positionCache.Load(s); ok && v.(*userPositions).txid == tx.ID() {
		return v.(*userPositions), nil
	}
	p := &userPositions{txid: tx.ID()}
	c := names.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if p.n%markEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			// Keys are only valid during the transaction: copy.
			p.marks = append(p.marks, append([]byte(nil), k...))
		}
		p.n++
	}
	positionCache.Store(s, p)
	return p, nil
}
