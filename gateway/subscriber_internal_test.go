package gateway

import (
	"testing"
	"time"
)

func TestBatchSizeKeepsABatchWithinHalfTheAckWait(t *testing.T) {
	for _, c := range []struct {
		perMsg time.Duration
		want   int
	}{
		{0, 100},                     // nothing measured yet: the Node client's batch
		{time.Millisecond, 100},      // fast endpoint
		{300 * time.Millisecond, 50}, // 50 x 300ms = 15s = half of 30s
		{20 * time.Second, 1},        // slower than the ack wait allows: one at a time
		{15*time.Second + 1, 1},
	} {
		if got := batchSize(30*time.Second, c.perMsg); got != c.want {
			t.Errorf("batchSize(30s, %s) = %d, want %d", c.perMsg, got, c.want)
		}
	}
}
