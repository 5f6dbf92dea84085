//go:build !unix

package scim

import "time"

// processCPU is not measured here; benchmarks then leave out their per-core figures.
func processCPU() time.Duration { return 0 }
