package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// demo is one demo run: the imitation sources it changes and what it has seen, for the lines and the summary.
type demo struct {
	out   io.Writer
	start time.Time
	sf    *successfactors.Company
	co    *graph.Company
	// runner is the main job's collector runner, which interactive changes trigger.
	runner *collector.Runner
	store  *store.Store

	mu          sync.Mutex
	collections map[string]int
	published   map[string]map[string]int // subject -> activityOperation -> count
	handled     map[string]map[string]int // subject -> gateway action -> count
	lastEvent   time.Time
	conns       []*nats.Conn
}

// line prints one timestamped line; lines of concurrent parts never interleave.
func (d *demo) line(subject, what, text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%7.2fs  %-12s %-11s %s\n", time.Since(d.start).Seconds(), what, subject, text)
}

func (d *demo) header(dir string, temporary bool, sfURL, graphURL string, people int) {
	keep := "kept"
	if temporary {
		keep = "removed on exit; -dir keeps it"
	}
	fmt.Fprintf(d.out, "SCIM Stream demo: collectors, broker and gateway in one process; state in %s (%s)\n", dir, keep)
	fmt.Fprintf(d.out, "  imitation SuccessFactors  %s  (%d people, the documentation's mapper, channel HR.SF)\n", sfURL, people)
	fmt.Fprintf(d.out, "  imitation Entra ID        %s  (mycompany.com: %d users, nested groups, 2 applications; channels ENTRA.APP1-5)\n",
		graphURL, len(d.co.UserIDs()))
	fmt.Fprintln(d.out, "  Ctrl-C stops the demo.")
	fmt.Fprintln(d.out)
}

// monitor prints every message published to the collector type's channels, through a pull consumer per channel
// with a subscriber identity issued for it: what any subscriber sees. Each channel is its own NATS account.
func (d *demo) monitor(ctx context.Context, cfg *config.Config, url, ca string, typ wire.Type) error {
	subjects := []string{wire.Subject(typ, ">")}
	if chans := natsauth.Channels(cfg, Tenant, typ); len(chans) > 0 {
		subjects = subjects[:0]
		for _, ch := range chans {
			subjects = append(subjects, wire.Subject(typ, ch))
		}
	}
	for _, s := range subjects {
		if err := d.monitorSubject(ctx, cfg, url, ca, typ, s); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) monitorSubject(ctx context.Context, cfg *config.Config, url, ca string, typ wire.Type, subject string) error {
	durable := "demo-monitor"
	u, err := natsauth.IssueSubscriber(cfg, Tenant, typ, subject, durable, 0)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(url, nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.Name("scim-stream demo monitor"))
	if err != nil {
		return fmt.Errorf("demo monitor: %w", err)
	}
	d.mu.Lock()
	d.conns = append(d.conns, nc)
	d.mu.Unlock()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(cctx, Tenant, jetstream.ConsumerConfig{
		Durable: durable, DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subject,
	})
	if err != nil {
		return fmt.Errorf("demo monitor on %s: %w", subject, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var msg wire.Message
		if err := json.Unmarshal(m.Data(), &msg); err != nil {
			d.line(m.Subject(), "published", "(unreadable message: "+err.Error()+")")
		} else {
			d.count(&d.published, m.Subject(), msg.ActivityOperation)
			d.line(m.Subject(), "published", fmt.Sprintf("%-10s %s%s", msg.ActivityOperation, who(msg.User, msg.TargetUPN), opsSummary(msg.Operations)))
		}
		_ = m.Ack()
	})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
		nc.Close()
	}()
	return nil
}

// provisioned is the gateway's OnEvent.
func (d *demo) provisioned(e gateway.Event) {
	d.count(&d.handled, e.Subject, string(e.Action))
	text := fmt.Sprintf("%-10s %s", e.Action, e.UserName)
	if e.Reason != "" {
		text += " (" + e.Reason + ")"
	}
	if e.Err != nil {
		text += ": " + config.MaskSecrets(e.Err.Error())
	}
	d.line(e.Subject, "provisioned", text)
}

func (d *demo) count(m *map[string]map[string]int, subject, what string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if *m == nil {
		*m = map[string]map[string]int{}
	}
	if (*m)[subject] == nil {
		(*m)[subject] = map[string]int{}
	}
	(*m)[subject][what]++
	d.lastEvent = time.Now()
}

// who names a message's user: userName plus the display or formatted name when there is one.
func who(u scim.User, upn string) string {
	name, _ := u["userName"].(string)
	if name == "" {
		name = upn
	}
	display, _ := u["displayName"].(string)
	if n, ok := u["name"].(map[string]any); ok && display == "" {
		display, _ = n["formatted"].(string)
	}
	if display != "" && display != name {
		return name + " (" + display + ")"
	}
	return name
}

// opsSummary lists the attributes a message's Operations touch, e.g. " [replace title, add roles]".
func opsSummary(ops []scim.Operation) string {
	if len(ops) == 0 || len(ops) > 4 {
		if len(ops) > 4 {
			return fmt.Sprintf(" [%d operations]", len(ops))
		}
		return ""
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = op.Op + " " + op.Path
		if op.Path == "" {
			parts[i] = op.Op
		}
	}
	return " [" + strings.Join(parts, ", ") + "]"
}

// summaryWhenSettled prints the summary once both collectors finished a collection and nothing happened for two
// seconds: the initial load has reached the store.
func (d *demo) summaryWhenSettled(ctx context.Context, interactive bool) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		ready := d.collections[string(wire.Entra)] > 0 && d.collections[string(wire.HR)] > 0 &&
			!d.lastEvent.IsZero() && time.Since(d.lastEvent) > 2*time.Second
		d.mu.Unlock()
		if ready {
			d.summary()
			if interactive {
				fmt.Fprintln(d.out, demoHelp)
			} else {
				fmt.Fprintln(d.out, "Changes in the imitation sources keep flowing; run with -interactive to make some. Ctrl-C stops.")
			}
			return
		}
	}
}

// summary prints, per channel, the messages published by operation and the gateway's results.
func (d *demo) summary() {
	d.mu.Lock()
	defer d.mu.Unlock()
	subjects := map[string]bool{}
	for s := range d.published {
		subjects[s] = true
	}
	for s := range d.handled {
		subjects[s] = true
	}
	names := make([]string, 0, len(subjects))
	for s := range subjects {
		names = append(names, s)
	}
	sort.Strings(names)
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "channel\tcreateUser\tmodifyUser\tdeleteUser\tprovisioned\tunchanged\tfailed")
	for _, s := range names {
		p, h := d.published[s], d.handled[s]
		prov := "-"
		unchanged, failed := "-", "-"
		if _, sub := subscribedSubjects[s]; sub {
			prov = fmt.Sprint(h[string(gateway.ActionCreated)] + h[string(gateway.ActionReplaced)] + h[string(gateway.ActionModified)] + h[string(gateway.ActionDeleted)])
			unchanged = fmt.Sprint(h[string(gateway.ActionUnchanged)] + h[string(gateway.ActionSkipped)])
			failed = fmt.Sprint(h[string(gateway.ActionTerminated)] + h[string(gateway.ActionRetrying)])
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", s, p[wire.CreateUser], p[wire.ModifyUser], p[wire.DeleteUser], prov, unchanged, failed)
	}
	tw.Flush()
	users := "-"
	if d.store != nil {
		if us, err := d.store.ListUsers(context.Background(), ""); err == nil {
			users = fmt.Sprint(len(us))
		}
	}
	fmt.Fprintf(d.out, "\nSummary after %s (the gateway's store holds %s users):\n%s\n", time.Since(d.start).Round(100*time.Millisecond), users, b.String())
}

// subscribedSubjects are the subjects the demo gateway provisions (the others are only published).
var subscribedSubjects = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, s := range demoSubjects {
		m[s] = struct{}{}
	}
	return m
}()

// logBuffer collects a command's output for an error message.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
