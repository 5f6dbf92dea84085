package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
)

// checkSteps are the offline checks run after the configuration loaded; files of this command may append theirs
// in init. The first compiles every tenant's mapper, stream rules, dynamics and initial-load filter as the
// collectors do. Each returns every problem it finds; a problem that is a *config.Error is printed as
// file:line: key: message.
var checkSteps = []func(cfgPath string, c *config.Config) []error{collector.CheckConfig}

func init() {
	register("check", "validate a configuration offline and print every problem", runCheck)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scim-stream check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	// Check does not write: clear-text secrets stay as they are until the next run.
	c, err := config.Check(*cfgPath)
	if err != nil {
		for _, line := range config.MaskedLines(err) {
			fmt.Fprintln(stdout, line)
		}
		return 1
	}
	failed := false
	for _, step := range checkSteps {
		for _, err := range step(*cfgPath, c) {
			for _, line := range config.MaskedLines(err) {
				fmt.Fprintln(stdout, line)
			}
			failed = true
		}
	}
	if failed {
		return 1
	}
	fmt.Fprintf(stderr, "%s: ok\n", *cfgPath)
	return 0
}

// maskedErr is err for printing, one line per configuration problem, with secrets masked in the messages only
// (see config.MaskedLines).
func maskedErr(err error) string { return strings.Join(config.MaskedLines(err), "\n") }
