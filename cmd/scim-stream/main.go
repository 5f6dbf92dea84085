// Command scim-stream collects identity changes, maps them to SCIM users and streams them over NATS.
//
// Each sub-command lives in its own file and registers itself in init, so that main stays a dispatcher.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one sub-command. run gets the arguments after the sub-command name and returns the exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := commands[name]; dup {
		panic("scim-stream: sub-command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the named sub-command; with no name, or with a flag first, it runs "run" (the main job).
func dispatch(args []string, stdout, stderr io.Writer) int {
	name := "run"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			// Before the default sub-command takes the flags: the top level's help, not run's flags.
			usage(stdout)
			return 0
		case "-version", "--version":
			name, args = "version", args[1:]
		}
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' && name == "run" {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "scim-stream: unknown sub-command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return cmd.run(args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: scim-stream [sub-command] [flags]")
	fmt.Fprintln(w, "\nsub-commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nWith no sub-command, or with flags first, scim-stream runs 'run'. --version prints the version.")
	fmt.Fprintln(w, "Run 'scim-stream <sub-command> -h' for its flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting, writing usage to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("scim-stream "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and maps -h to exit code 0 and bad flags to 2. ok is false when the caller must return code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}
