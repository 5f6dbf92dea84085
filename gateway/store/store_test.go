package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/endpointtest"
	"github.com/scim-stream/scim-stream/scim"
)

func TestConformance(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) endpoint.Endpoint {
		s, err := Open(filepath.Join(t.TempDir(), "store.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, scim.User{"userName": "a@x", "password": "Secret-123"})
	if err != nil {
		t.Fatal(err)
	}
	if _, leaked := u["password"]; leaked {
		t.Fatal("CreateUser returned the password")
	}
	g, err := s.CreateGroup(ctx, scim.Group{"displayName": "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembers(ctx, g["id"].(string), u["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "Secret-123") {
		t.Fatal("the password is stored in clear text")
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.FindUser(ctx, "A@X")
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := got["groups"].([]any)
	if len(gs) != 1 || gs[0].(map[string]any)["display"] != "Staff" {
		t.Fatalf("groups after reopen = %v", got["groups"])
	}
	if has, err := s.HasPassword(ctx, u["id"].(string)); err != nil || !has {
		t.Fatalf("HasPassword = %v, %v", has, err)
	}
}

func TestSuspendMakesOperationsUnavailable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Suspend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, scim.User{"userName": "a@x"}); !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("CreateUser while suspended: %v, want ErrUnavailable", err)
	}
	if _, err := s.FindUser(ctx, "a@x"); !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("FindUser while suspended: %v, want ErrUnavailable", err)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, scim.User{"userName": "a@x"}); err != nil {
		t.Fatalf("CreateUser after Resume: %v", err)
	}
}

func TestSecondOpenOfOneFileFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path); !errors.Is(err, endpoint.ErrUnavailable) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open: %v, want a 'locked' ErrUnavailable", err)
	}
}

func TestFactoryPlacesTheFileNextToTheConfig(t *testing.T) {
	dir := t.TempDir()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("type: store\nentity: {undefined: {}}\n"), &node); err != nil {
		t.Fatal(err)
	}
	ep, err := OpenConfig(context.Background(), node.Content[0], endpoint.Env{Dir: dir, Name: "plugin-loki"})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if _, err := os.Stat(filepath.Join(dir, "plugin-loki.db")); err != nil {
		t.Fatalf("store file: %v", err)
	}
}
