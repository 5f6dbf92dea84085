package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/scim-stream/scim-stream/internal/demo"
)

func init() {
	register("demo", "run everything in one process against imitation Entra ID and SuccessFactors servers (no cloud account)", runDemo)
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	dir := fs.String("dir", "", "keep configuration, NATS store and gateway store in this directory (default: a temporary one, removed on exit)")
	people := fs.Int("people", 20, "people in the imitation SuccessFactors company")
	interactive := fs.Bool("interactive", false, "read commands from the terminal to change people, groups and roles in the imitation sources")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *people < 1 || *people > 10000 {
		fmt.Fprintf(stderr, "scim-stream demo: -people %d: use 1 to 10000\n", *people)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demoWith(ctx, demo.Options{Dir: *dir, People: *people, Interactive: *interactive, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr})
}

// demoWith runs the demo with this command's bootstrap and main job wired in.
func demoWith(ctx context.Context, o demo.Options) int {
	o.Bootstrap = runBootstrap
	o.Gateway = gatewayOptions
	o.Run = func(ctx context.Context, cfgPath string, log io.Writer, h demo.Hooks) int {
		return runOpts(ctx, runOptions{ConfigPath: cfgPath, Stdout: log, Stderr: log, Prepare: func(env *runEnv) {
			env.HTTPClient = h.HTTPClient
			env.OnCollected = h.OnCollected
			env.started = func(env *runEnv) { h.Started(demo.Main{Broker: env.Broker, Runner: env.Runner, Config: env.Config()}) }
		}})
	}
	return demo.Run(ctx, o)
}
