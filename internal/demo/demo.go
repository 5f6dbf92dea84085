// Package demo is `scim-stream demo`: imitation Entra ID and SuccessFactors servers, the command's own bootstrap
// and main job against them, a bundled gateway provisioning its embedded store, and a line per message published
// and per user provisioned. The command parses the flags and wires its bootstrap and main job in (Options).
package demo

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// Tenant is the tenant name of both demo collectors.
const Tenant = "mycompany"

// demoSubjects are what the demo's gateway subscribes to, one entity each.
var demoSubjects = map[string]string{"entra": "ENTRA.APP5", "hr": "HR.SF"}

// Options are the demo's flags and what the command wires in: the demo runs the command's own bootstrap and
// main job, so that it shows exactly what `scim-stream bootstrap` and `scim-stream run` do.
type Options struct {
	Dir         string
	People      int
	Interactive bool
	// Stdin feeds -interactive commands.
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Bootstrap runs `scim-stream bootstrap` with args and returns its exit code.
	Bootstrap func(args []string, stdout, stderr io.Writer) int
	// Run runs the main job (`scim-stream run`) on configPath until ctx is cancelled, with its console output and
	// log going to log, and returns its exit code. It applies hooks before the parts start and calls
	// hooks.Started once they have.
	Run func(ctx context.Context, configPath string, log io.Writer, hooks Hooks) int
	// Gateway is the bundled gateway's parts (endpoint types, SCIM side), as `scim-stream gateway` runs it.
	Gateway func(log *slog.Logger) gateway.Options
}

// Hooks is what the demo sets on the main job it runs.
type Hooks struct {
	// HTTPClient is what the collectors call the imitation sources with (it trusts their test certificates).
	HTTPClient *http.Client
	// OnCollected is told about every finished collection.
	OnCollected func(t *collector.Tenant, s collector.Stats, err error)
	// Started is called once every part of the main job has started.
	Started func(Main)
}

// Main is what the demo uses of the running main job.
type Main struct {
	Broker *broker.Broker
	Runner *collector.Runner
	// Config is the configuration snapshot the main job started on.
	Config *config.Config
}

// Run runs the demo until ctx is cancelled (or "quit" in interactive mode) and returns the exit code.
func Run(ctx context.Context, o Options) int {
	d := &demo{out: o.Stdout, start: time.Now()}
	if err := d.run(ctx, o); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(o.Stderr, "scim-stream demo:", config.MaskSecrets(err.Error()))
		return 1
	}
	return 0
}

func (d *demo) run(ctx context.Context, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir := o.Dir
	temporary := dir == ""
	if temporary {
		var err error
		if dir, err = os.MkdirTemp("", "scim-stream-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	// The imitation sources: a SuccessFactors company and an Entra ID tenant, each over TLS with its own test
	// certificate, which only the demo's HTTP client trusts.
	d.sf = successfactors.NewSampleCompany(o.People, nil)
	sfAPI := successfactors.New(d.sf)
	sfAPI.AddBasicUser("demo-api", "demo-api-password")
	sfSrv := sfAPI.Start()
	defer sfSrv.Close()
	d.co = graph.NewCompany(nil)
	gAPI := graph.NewServer(d.co.Tenant)
	gAPI.AddClient("demo-client", "demo-client-secret")
	gSrv := gAPI.Start()
	defer gSrv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(sfSrv.Certificate())
	pool.AddCert(gSrv.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	cfgPath := filepath.Join(dir, "config", "config.yaml")
	created, err := writeDemoConfig(cfgPath, gSrv.URL, sfSrv.URL, d.co.App1)
	if err != nil {
		return err
	}
	if !created {
		if err := setDemoURLs(cfgPath, gSrv.URL, sfSrv.URL); err != nil {
			return err
		}
	}
	var bootOut logBuffer
	if code := o.Bootstrap([]string{"-config", cfgPath, "-entra", Tenant, "-hr", Tenant}, &bootOut, &bootOut); code != 0 {
		return fmt.Errorf("bootstrap of the demo configuration failed:\n%s", bootOut.String())
	}

	d.header(dir, temporary, sfSrv.URL, gSrv.URL, o.People)

	// The main job, exactly as `scim-stream run` does it, with its log in a file.
	logPath := filepath.Join(dir, "scim-stream.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	started := make(chan Main, 1)
	runDone := make(chan int, 1)
	go func() {
		runDone <- o.Run(ctx, cfgPath, logFile, Hooks{HTTPClient: client, OnCollected: d.collected, Started: func(m Main) { started <- m }})
	}()
	var env Main
	select {
	case env = <-started:
	case code := <-runDone:
		return fmt.Errorf("scim-stream run stopped at start-up (exit %d); its log is %s", code, logPath)
	case <-ctx.Done():
		<-runDone
		return nil
	}
	d.runner = env.Runner
	d.line("", "broker", fmt.Sprintf("NATS JetStream %s (log: %s)", env.Broker.ClientURL(), logPath))

	// A subscriber that prints every published message (a pull consumer of its own, like any subscriber).
	cfg := env.Config
	for _, typ := range []wire.Type{wire.Entra, wire.HR} {
		if err := d.monitor(ctx, cfg, env.Broker.ClientURL(), env.Broker.CAFile(), typ); err != nil {
			cancel()
			<-runDone
			return err
		}
	}

	// The bundled gateway, subscribed to ENTRA.APP5 and HR.SF, provisioning its embedded store.
	gwLog := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	entities := map[string]gateway.Entity{}
	for entity, subject := range demoSubjects {
		typ, _ := wire.TypeOf(subject)
		u, err := natsauth.IssueSubscriber(cfg, Tenant, typ, subject, wire.DurableName("demo", entity), 0)
		if err != nil {
			cancel()
			<-runDone
			return err
		}
		entities[entity] = gateway.Entity{NATS: gateway.NATS{Tenant: Tenant, Subject: subject, JWT: u.JWT, Secret: u.Seed}}
	}
	gcfg := gateway.SubscriberConfig("demo", dir, []string{env.Broker.ClientURL()}, env.Broker.CAFile(), entities)
	g, err := gateway.Open(ctx, gcfg, o.Gateway(gwLog))
	if err != nil {
		cancel()
		<-runDone
		return err
	}
	defer g.Close()
	d.store, _ = g.Endpoint.(*store.Store)
	g.OnEvent = d.provisioned
	gwDone := make(chan error, 1)
	go func() { gwDone <- g.Run(ctx) }()
	d.line("", "gateway", fmt.Sprintf("\"demo\" subscribed to ENTRA.APP5 and HR.SF, store %s", filepath.Join(dir, "demo.db")))

	go d.summaryWhenSettled(ctx, o.Interactive)
	if o.Interactive {
		go func() {
			d.interactive(ctx, bufio.NewScanner(o.Stdin))
			cancel()
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-gwDone:
		runErr = err
		cancel()
		gwDone <- nil
	case code := <-runDone:
		runErr = fmt.Errorf("scim-stream run stopped (exit %d); its log is %s", code, logPath)
		cancel()
		runDone <- code
	}
	cancel()
	<-gwDone
	<-runDone
	d.summary()
	if runErr != nil {
		return runErr
	}
	fmt.Fprintln(d.out, "demo stopped")
	return nil
}

// collected is called by the runner after each collection.
func (d *demo) collected(t *collector.Tenant, s collector.Stats, err error) {
	d.mu.Lock()
	if d.collections == nil {
		d.collections = map[string]int{}
	}
	d.collections[string(t.Type)]++
	first := d.collections[string(t.Type)] == 1
	d.mu.Unlock()
	switch {
	case err != nil:
		d.line(string(t.Type), "collection", "failed: "+config.MaskSecrets(err.Error()))
	case first || s.Published > 0:
		d.line(string(t.Type), "collection", fmt.Sprintf("%d users seen, %d changed, %d messages published in %s",
			s.Seen, s.Changed, s.Published, s.Duration.Round(time.Millisecond)))
	}
}
