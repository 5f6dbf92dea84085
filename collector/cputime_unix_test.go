//go:build unix

package collector

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) the process used so far. On a machine shared with other work, CPU
// time per user is a steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
