package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
)

// runEnv is what the main job's parts share.
type runEnv struct {
	// ConfigPath is the configuration file; config.Dir(ConfigPath) holds certs and state.
	ConfigPath string
	// Log is the process logger (secrets masked).
	Log *slog.Logger
	// HTTPAddr is the optional listen address of /metrics and /healthz ("" = none).
	HTTPAddr string
	// HTTPClient, when set, is what the collectors call their sources with (the demo trusts its imitation
	// servers' certificates with it); nil means each source's default client.
	HTTPClient *http.Client

	// Broker and Runner are set by startCollecting, for the demo.
	Broker *broker.Broker
	Runner *collector.Runner
	// Now, when set before the collectors start, is their clock (tests move it past start and end dates).
	Now func() time.Time
	// OnCollected, when set before the collectors start, is told about every finished collection.
	OnCollected func(t *collector.Tenant, s collector.Stats, err error)
	// started, when set, is called once every part has started.
	started func(env *runEnv)

	work sync.WaitGroup

	mu        sync.Mutex
	cfg       *config.Config
	listeners []func(*config.Config)
}

// Config returns the current valid snapshot.
func (e *runEnv) Config() *config.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Go runs f in a goroutine that run waits for before it returns (after ctx is cancelled): parts shut down
// cleanly (the broker flushes its store) before the process exits.
func (e *runEnv) Go(f func()) {
	e.work.Add(1)
	go func() {
		defer e.work.Done()
		f()
	}()
}

// OnConfig registers f to be called with each new valid snapshot after a hot reload (not with the first one).
func (e *runEnv) OnConfig(f func(*config.Config)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listeners = append(e.listeners, f)
}

func (e *runEnv) apply(c *config.Config) {
	e.mu.Lock()
	e.cfg = c
	ls := append([]func(*config.Config){}, e.listeners...)
	e.mu.Unlock()
	for _, f := range ls {
		f(c)
	}
}

// runHooks start the main job's parts, in order: the broker first, then the collectors. They are appended in
// init by the files that own them (broker, collectors, gateway wiring). A hook starts its work in goroutines
// bound to ctx and returns; an error stops the process. Work must end when ctx is cancelled; hot-reloaded
// snapshots reach a part through env.OnConfig.
var runHooks []func(ctx context.Context, env *runEnv) error

// bootstrapHint is printed when the configuration lacks what bootstrap generates.
const bootstrapHint = "run the bootstrap with your collector tenant names, e.g.:\n  scim-stream bootstrap -entra <tenant> -hr <tenant>"

func init() {
	register("run", "run the collectors and the embedded NATS broker (default)", runMain)
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	httpAddr := fs.String("http", "", "listen address for /metrics and /healthz, e.g. :9013 (default: none)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runOpts(ctx, runOptions{ConfigPath: *cfgPath, HTTPAddr: *httpAddr, Stdout: stdout, Stderr: stderr, Hangup: hangups()})
}

// runWith is the main job until ctx is cancelled; tests call it with their own context.
func runWith(ctx context.Context, cfgPath, httpAddr string, stdout, stderr io.Writer) int {
	return runOpts(ctx, runOptions{ConfigPath: cfgPath, HTTPAddr: httpAddr, Stdout: stdout, Stderr: stderr})
}

// runOptions are runWith's arguments plus what the demo sets up around the main job.
type runOptions struct {
	ConfigPath, HTTPAddr string
	Stdout, Stderr       io.Writer
	// Prepare, when set, adjusts the environment before the parts start (HTTP client, hooks).
	Prepare func(env *runEnv)
	// Logger replaces the logger from the configuration's log section.
	Logger *slog.Logger
	// Hangup delivers SIGHUP: reopen the log file and reload the configuration (nil: no signal handling).
	Hangup <-chan os.Signal
}

func runOpts(ctx context.Context, o runOptions) int {
	cfgPath, httpAddr, stdout, stderr := o.ConfigPath, o.HTTPAddr, o.Stdout, o.Stderr
	created, err := config.EnsureFile(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream:", err)
		return 1
	}
	if created {
		fmt.Fprintf(stderr, "scim-stream: created %s with default settings; the collector tenants and NATS keys are missing:\n%s\n", cfgPath, bootstrapHint)
		return 1
	}
	// Watch before loading, so that an edit made while starting is not missed.
	watcher, err := config.NewWatcher(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream:", err)
		return 1
	}
	defer watcher.Close()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream: invalid configuration:")
		for _, l := range config.MaskedLines(err) {
			fmt.Fprintln(stderr, l)
		}
		return 1
	}
	if cfg.NeedsBootstrap() {
		fmt.Fprintf(stderr, "scim-stream: %s has no NATS operator or no collector tenant yet:\n%s\n", cfgPath, bootstrapHint)
		return 1
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream:", err)
		return 1
	}
	logger, closer, err := newRunLogger(cfg.Log, wd, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream:", err)
		return 1
	}
	defer closer.Close()
	// A start-up failure is always printed on stderr too, naming the log file when there is one: with file logging
	// the terminal would otherwise stay silent, and stderr is what service managers show for a failed start.
	logFile := ""
	if o.Logger == nil && !cfg.Log.Console && cfg.Log.Level != "disabled" {
		logFile = filepath.Join(wd, "logs", config.LogFileName)
	}
	if o.Logger != nil {
		logger = o.Logger
	}
	env := &runEnv{ConfigPath: cfgPath, Log: logger, HTTPAddr: httpAddr, cfg: cfg}
	if o.Prepare != nil {
		o.Prepare(env)
	}
	logger.Info("starting", "version", buildVersion(), "config", cfgPath,
		"entra_tenants", len(cfg.Entra), "hr_tenants", len(cfg.HR))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := watcher.Run(ctx, config.DefaultDebounce,
			func(c *config.Config) {
				logger.Info("configuration reloaded", "config", cfgPath)
				env.apply(c)
			},
			func(err error) {
				logger.Error("configuration change not applied, still running on the previous one", "config", cfgPath, "error", err)
			})
		if err != nil {
			logger.Error("configuration hot reload disabled", "error", err)
		}
	}()

	// ---- Parts of the main job start here (broker, collectors): see runHooks. ----
	for _, hook := range runHooks {
		if err := hook(ctx, env); err != nil {
			logger.Error("start-up failed", "error", err)
			fatalOnStderr(stderr, err, logFile)
			cancel()
			wg.Wait()
			env.work.Wait()
			return 1
		}
	}

	if o.Hangup != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			onHangup(ctx, o.Hangup, logger, closer, watcher)
		}()
	}
	if env.started != nil {
		env.started(env)
	}
	<-ctx.Done()
	logger.Info("stopping")
	cancel()
	wg.Wait()
	env.work.Wait()
	logger.Info("stopped")
	return 0
}

// newRunLogger is config.NewLogger, with console output going to the command's stdout.
func newRunLogger(l config.Log, dir string, stdout io.Writer) (*slog.Logger, io.Closer, error) {
	if l.Console {
		return config.NewFormatLogger(stdout, l.Level, l.Format), noClose{}, nil
	}
	return config.NewLogger(l, dir)
}

// noClose is the Closer of a logger that writes to the command's stdout, which run does not own.
type noClose struct{}

func (noClose) Close() error { return nil }
