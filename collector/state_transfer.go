package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go/jetstream"
)

// Growing from one node to a cluster: a single node's JetStream store is not adopted by a cluster (nats-server
// starts the clustered streams empty), so the collector state — users as last published, unique-value
// reservations, delta links — is carried over as a file: `scim-stream state-export` writes it from the stopped
// single node, and every cluster node is given it (nats.server.cluster.import_state). The node that first holds a
// (tenant, type)'s lease imports that bucket's part before it collects, and only into an empty bucket: under the
// lease no other node collects meanwhile, and a second import never overwrites newer state.

// stateLine is one key of a state bucket in an export file (JSON lines).
type stateLine struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Value  []byte `json:"value"`
}

// ExportState writes every key of kv to w; it returns the number of keys.
func ExportState(ctx context.Context, kv jetstream.KeyValue, w io.Writer) (int, error) {
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("state %s: list keys: %w", kv.Bucket(), err)
	}
	enc := json.NewEncoder(w)
	n := 0
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("state %s: read %s: %w", kv.Bucket(), k, err)
		}
		if err := enc.Encode(stateLine{Bucket: kv.Bucket(), Key: k, Value: e.Value()}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ImportState puts the keys of kv's bucket found in the export file path into kv, when kv holds no key yet. It
// returns the number of keys imported (0 when kv was not empty).
func ImportState(ctx context.Context, kv jetstream.KeyValue, path string) (int, error) {
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("state %s: list keys: %w", kv.Bucket(), err)
	}
	for range keys.Keys() {
		_ = keys.Stop()
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("nats.server.cluster.import_state: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for line := 1; sc.Scan(); line++ {
		var l stateLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return n, fmt.Errorf("nats.server.cluster.import_state: %s:%d: %v (a file written by scim-stream state-export is expected)", path, line, err)
		}
		if l.Bucket != kv.Bucket() {
			continue
		}
		if err := retry(ctx, func() error { _, err := kv.Put(ctx, l.Key, l.Value); return err }); err != nil {
			return n, fmt.Errorf("state %s: import %s: %w", kv.Bucket(), l.Key, err)
		}
		n++
	}
	return n, sc.Err()
}

// importState imports the loop's part of the Runner's ImportState file once, under the lease (see above).
func (r *Runner) importState(ctx context.Context, p *Pipeline, log *slog.Logger) error {
	if r.ImportState == "" {
		return nil
	}
	n, err := ImportState(ctx, p.State.kv, r.ImportState)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("collector state imported from a single node's export", "file", r.ImportState, "keys", n, "bucket", p.State.kv.Bucket())
	}
	return nil
}
