//go:build unix

package scim

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user and system, all threads). Benchmarks divide it among
// their operations to report throughput per core: on a machine shared with other work, wall time also counts
// the time other processes had the CPU.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
