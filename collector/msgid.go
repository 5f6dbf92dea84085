package collector

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
)

// messageID derives the Msg-Id of one message from what the change is, never from when it was computed: a
// collection repeated after a crash recomputes the same ids for the same changes and JetStream drops the
// duplicates (Nats-Msg-Id). The previous state's KV revision is part of it, so a user flipping back to an
// earlier value later is a new change with a new id. activityDateTime is deliberately left out.
func messageID(t *Tenant, channel, key, op string, revision uint64, epoch string, prev, cur any) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(t.Name)
	field(string(t.Type))
	field(channel)
	field(key)
	field(op)
	field(epoch)
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], revision)
	h.Write(r[:])
	writeJSON(h, prev)
	writeJSON(h, cur)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// writeJSON hashes v's JSON encoding; encoding/json sorts map keys, so equal users hash equally.
func writeJSON(h hash.Hash, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Users are JSON values by construction (they were decoded or mapped from JSON); hash the error text so
		// the id stays deterministic rather than panicking in a collection.
		b = []byte(err.Error())
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
