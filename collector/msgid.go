package collector

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// messageID derives the Msg-Id of one message from what the change is, never from when it was computed: a
// collection repeated after a crash recomputes the same ids for the same changes and JetStream drops the
// duplicates (Nats-Msg-Id). The previous state's KV revision is part of it, so a user flipping back to an
// earlier value later is a new change with a new id. activityDateTime is deliberately left out.
//
// prev and cur are the JSON encodings (json.Marshal's bytes) of the previous and current user views.
func messageID(t *Tenant, channel, key, op string, revision uint64, epoch string, prev, cur []byte) string {
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

// writeJSON hashes one JSON encoding, length first; encoding/json (and appendJSON) sort map keys, so equal users
// hash equally.
func writeJSON(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
