package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise the module version is used.
var version = ""

func init() {
	register("version", "print the version", func(args []string, stdout, stderr io.Writer) int {
		fmt.Fprintln(stdout, "scim-stream", buildVersion())
		return 0
	})
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
