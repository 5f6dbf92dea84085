package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/scim-stream/scim-stream/gateway/store"
)

// TestUsersPageFollowsWritesAndStopsOnCancel: pages see a write made after the positions were remembered, and a
// cancelled request reads nothing.
func TestUsersPageFollowsWritesAndStopsOnCancel(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "page.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := store.LoadUsersForBench(ctx, st, 3000, func(int) map[string]any { return map[string]any{} }); err != nil {
		t.Fatal(err)
	}
	page, total, err := st.UsersPage(ctx, 2990, 50)
	if err != nil || total != 3000 || len(page) != 10 || page[9]["userName"] != "user0002999@example.com" {
		t.Fatalf("last page: %d users of %d, %v", len(page), total, err)
	}
	u, err := st.FindUser(ctx, "user0001500@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, u["id"].(string)); err != nil {
		t.Fatal(err)
	}
	page, total, err = st.UsersPage(ctx, 1499, 2)
	if err != nil || total != 2999 || len(page) != 2 || page[0]["userName"] != "user0001499@example.com" || page[1]["userName"] != "user0001501@example.com" {
		t.Fatalf("after a delete: %v of %d, %v", page, total, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := st.UsersPage(cctx, 0, 50); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
