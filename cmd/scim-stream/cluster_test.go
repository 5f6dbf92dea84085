package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// The cluster test runs the real binary, built here, as three node processes on loopback ports (issue 16). Its
// size is SCIMSTREAM_CLUSTER_PEOPLE (default 500: CI); the benchmark size is 10000 (see README, High
// availability).

// clusterNode is one `scim-stream run` process of the cluster, with its own configuration directory and store.
type clusterNode struct {
	name                      string
	dir, cfgPath              string
	port, routePort, httpPort int
	bin                       string
	logPath                   string
	cmd                       *exec.Cmd
	extraEnv                  []string
}

func (n *clusterNode) url() string { return fmt.Sprintf("tls://localhost:%d", n.port) }

func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(n.bin, "run", "-config", n.cfgPath, "-http", fmt.Sprintf("127.0.0.1:%d", n.httpPort))
	cmd.Dir = n.dir
	// The node-specific keys come from the environment, as a StatefulSet gives them; the file is the same.
	cmd.Env = append(os.Environ(), n.extraEnv...)
	if n.routePort != 0 {
		cmd.Env = append(cmd.Env,
			"SCIM_STREAM_NATS_SERVER_CLUSTER_NAME="+n.name,
			fmt.Sprintf("SCIM_STREAM_NATS_SERVER_CLUSTER_PORT=%d", n.routePort))
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("SCIM_STREAM_NATS_SERVER_PORT=%d", n.port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	t.Cleanup(func() { n.kill() })
}

// kill SIGKILLs the node.
func (n *clusterNode) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

func (n *clusterNode) alive() bool { return n.cmd != nil }

var leaderRE = regexp.MustCompile(`(?m)^scimstream_collector_leader\{tenant="` + demo.Tenant + `",type="HR"\} (\d)`)

// leader reports whether the node's /metrics says it holds the HR collector lease.
func (n *clusterNode) leader() bool {
	v, _ := n.leaderGauge()
	return v
}

// leaderGauge reads scimstream_collector_leader of the HR tenant: its value and whether the node has it yet.
func (n *clusterNode) leaderGauge() (held, present bool) {
	if !n.alive() {
		return false, false
	}
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", n.httpPort))
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	m := leaderRE.FindStringSubmatch(b.String())
	return m != nil && m[1] == "1", m != nil
}

func (n *clusterNode) logText() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

var collectionDoneRE = regexp.MustCompile(`msg="collection done".* published=(\d+) .*duration=(\S+)`)

// logSize is the current length of the node's log: collections after it are those of a later change.
func (n *clusterNode) logSize() int { return len(n.logText()) }

// published sums the collections logged after offset until they published n messages in all (a change made
// while a collection was reading lands in two): their total duration, and whether n was reached.
func (n *clusterNode) published(offset, count int) (time.Duration, bool) {
	text := n.logText()
	if offset > len(text) {
		return 0, false
	}
	var total time.Duration
	sum := 0
	for _, m := range collectionDoneRE.FindAllStringSubmatch(text[offset:], -1) {
		p, _ := strconv.Atoi(m[1])
		if p == 0 {
			continue
		}
		d, _ := time.ParseDuration(m[2])
		sum, total = sum+p, total+d
		if sum >= count {
			return total, true
		}
	}
	return total, false
}

// delivery is one message as the subscriber got it.
type delivery struct {
	at     time.Time
	msgID  string
	target string
	op     string
	title  string
}

// clusterSubscriber pulls HR.SF with every node's URL, acks everything and records each delivery.
type clusterSubscriber struct {
	nc   *nats.Conn
	mu   sync.Mutex
	got  []delivery
	reco []time.Time
	// badName is a server name other than SCIM-Stream the subscriber was connected to.
	badName string
	stop    chan struct{}
	done    chan struct{}
}

func startClusterSubscriber(t *testing.T, cfgPath, ca string, urls []string) *clusterSubscriber {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := natsauth.IssueSubscriber(cfg, demo.Tenant, wire.HR, "HR.SF", "ha", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := &clusterSubscriber{stop: make(chan struct{}), done: make(chan struct{})}
	opts := []nats.Option{nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.ReconnectHandler(func(*nats.Conn) {
			s.mu.Lock()
			s.reco = append(s.reco, time.Now())
			s.mu.Unlock()
		})}
	if s.nc, err = nats.Connect(strings.Join(urls, ","), opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.nc.Close)
	js, _ := jetstream.New(s.nc)
	var cons jetstream.Consumer
	waitFor(t, "the cluster's stream", 3*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err = js.CreateOrUpdateConsumer(ctx, demo.Tenant, jetstream.ConsumerConfig{Durable: "ha",
			DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "HR.SF"})
		return err == nil
	})
	if name := s.nc.ConnectedServerName(); name != "SCIM-Stream" {
		t.Fatalf("server_name %q, want SCIM-Stream", name)
	}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			if name := s.nc.ConnectedServerName(); name != "" && name != "SCIM-Stream" {
				s.mu.Lock()
				s.badName = name
				s.mu.Unlock()
			}
			batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for m := range batch.Messages() {
				var msg wire.Message
				_ = json.Unmarshal(m.Data(), &msg)
				title, _ := msg.User["title"].(string)
				d := delivery{at: time.Now(), msgID: m.Headers().Get("Msg-Id"), target: msg.TargetID, op: msg.ActivityOperation, title: title}
				s.mu.Lock()
				s.got = append(s.got, d)
				s.mu.Unlock()
				_ = m.Ack()
			}
		}
	}()
	t.Cleanup(func() { close(s.stop); <-s.done })
	return s
}

// unique returns the deliveries de-duplicated by Msg-Id (first arrival kept) and the number of redeliveries.
func (s *clusterSubscriber) unique() ([]delivery, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []delivery
	for _, d := range s.got {
		if !seen[d.msgID] {
			seen[d.msgID] = true
			out = append(out, d)
		}
	}
	return out, len(s.got) - len(out)
}

// longestGap is the longest time without a new Msg-Id between from and the arrival of the last one.
func (s *clusterSubscriber) longestGap(from time.Time) time.Duration {
	u, _ := s.unique()
	prev, gap := from, time.Duration(0)
	for _, d := range u {
		if d.at.After(from) {
			gap = max(gap, d.at.Sub(prev))
			prev = d.at
		}
	}
	return gap
}

// firstAfter is the arrival of the first new Msg-Id delivered after t.
func (s *clusterSubscriber) firstAfter(t time.Time) (time.Time, bool) {
	u, _ := s.unique()
	for _, d := range u {
		if d.at.After(t) {
			return d.at, true
		}
	}
	return time.Time{}, false
}

func clusterPeople() int {
	if n, err := strconv.Atoi(os.Getenv("SCIMSTREAM_CLUSTER_PEOPLE")); err == nil && n > 10 {
		return n
	}
	return 500
}

// TestClusterProcessesSurviveKills is issue 16's acceptance test: three `scim-stream run` processes form a
// cluster; a subscriber given the three URLs pulls the initial load of an imitation SuccessFactors. The collector
// leader is SIGKILLed in the middle of the load and later the node holding the stream leader: every user arrives,
// each logical event under one Msg-Id (0 lost, 0 duplicated), and a change made after the second kill is
// published within collect_interval + 10 s. It also compares the publish rate of the cluster with a single node.
func TestClusterProcessesSurviveKills(t *testing.T) {
	people := clusterPeople()
	users := people - 1 // the sample company's last person is a future hire
	work := t.TempDir()
	bin := buildBinary(t, work)
	t.Setenv("SEED", "cluster-test-seed")

	company := successfactors.NewSampleCompany(people, nil)
	api := successfactors.New(company)
	api.AddBasicUser("demo-api", "demo-api-password")
	// The HR system answers once every node runs its collector (and so watches the lease): the kill below then
	// measures a takeover in a running cluster, not a node's start-up.
	gate := make(chan struct{})
	sf := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
			api.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}))
	defer sf.Close()
	// Pages of 100: spread the load over about 8 s so that the kill lands in the middle of it.
	api.SetLatency(max(20*time.Millisecond, 8*time.Second/time.Duration((people+99)/100)))

	ports := make([]int, 9)
	for i := range ports {
		p, err := demo.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
	}
	cluster := "    cluster:\n      routes: [" + strings.Join(routes, ", ") + "]\n"
	base := filepath.Join(work, "base", "config", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, []byte(hrConfig(sf.URL, ports[0], cluster)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	if code := runBootstrap([]string{"-config", base, "-hr", demo.Tenant}, &out, &out); code != 0 {
		t.Fatalf("bootstrap: %s", out.String())
	}
	var out2 syncBuffer
	if code := runCheck([]string{"-config", base}, &out2, &out2); code != 0 {
		t.Fatalf("check of the cluster configuration: %s", out2.String())
	}
	nodes := make([]*clusterNode, 3)
	for i := range nodes {
		n := &clusterNode{name: fmt.Sprintf("node-%c", 'a'+i), port: ports[i], routePort: ports[3+i], httpPort: ports[6+i], bin: bin}
		n.dir = filepath.Join(work, n.name)
		n.cfgPath = filepath.Join(n.dir, "config", "config.yaml")
		n.logPath = filepath.Join(work, n.name+".log")
		copyDir(t, filepath.Dir(base), filepath.Dir(n.cfgPath))
		nodes[i] = n
	}
	defer func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("---- %s log (tail) ----\n%s", n.name, tail(n.logText(), 60))
			}
		}
	}()
	for _, n := range nodes {
		n.start(t)
	}
	ca := filepath.Join(filepath.Dir(base), "certs", config.DefaultCAFile)
	urls := []string{nodes[0].url(), nodes[1].url(), nodes[2].url()}
	sub := startClusterSubscriber(t, base, ca, urls)
	gw := startClusterGateway(t, bin, work, base, ca, urls)
	waitFor(t, "every node's collector", 3*time.Minute, func() bool {
		for _, n := range nodes {
			if _, ok := n.leaderGauge(); !ok {
				return false
			}
		}
		return true
	})
	close(gate)

	// 1. SIGKILL the collector leader in the middle of the initial load.
	var leader *clusterNode
	waitFor(t, "a fifth of the initial load", 5*time.Minute, func() bool {
		u, _ := sub.unique()
		return len(u) >= users/5
	})
	for _, n := range nodes {
		if n.leader() {
			leader = n
		}
	}
	if leader == nil {
		t.Fatal("no node reports scimstream_collector_leader 1")
	}
	kill1 := time.Now()
	leader.kill()
	before, _ := sub.unique()
	if len(before) >= users {
		t.Fatalf("the load finished before the kill (%d users): the test did not interrupt it", len(before))
	}
	t.Logf("killed the collector leader %s after %d of %d users", leader.name, len(before), users)
	var next *clusterNode
	waitFor(t, "another node to take the collector lease", 2*time.Minute, func() bool {
		for _, n := range nodes {
			if n != leader && n.leader() {
				next = n
				return true
			}
		}
		return false
	})
	takeover := time.Since(kill1)
	waitFor(t, "every user", 5*time.Minute, func() bool {
		u, _ := sub.unique()
		return len(u) >= users
	})
	t.Logf("collector leader kill: lease taken by %s after %v; longest time without a new message after the kill %v", next.name,
		takeover.Round(time.Millisecond), sub.longestGap(kill1).Round(time.Millisecond))
	if n := strings.Count(next.logText(), "collector leadership acquired"); n < 1 {
		t.Errorf("%s logged no change of leadership", next.name)
	}

	// 2. Bring the killed node back, then SIGKILL the node holding the stream leader, and change a person.
	api.SetLatency(0)
	leader.start(t)
	streamLeader := waitStreamLeader(t, base, ca, urls, 3)
	var victim *clusterNode
	for _, n := range nodes {
		if "SCIM-Stream-"+n.name == streamLeader {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("stream leader %q is no node of the test", streamLeader)
	}
	const changed = "1002"
	kill2 := time.Now()
	victim.kill()
	if err := company.SetTitle(changed, "Chief Failover Officer"); err != nil {
		t.Fatal(err)
	}
	var published time.Time
	waitFor(t, "the change made after the stream leader's kill", 2*time.Minute, func() bool {
		u, _ := sub.unique()
		for _, d := range u {
			if d.target == changed && d.title == "Chief Failover Officer" {
				published = d.at
				return true
			}
		}
		return false
	})
	gap2, _ := sub.firstAfter(kill2)
	t.Logf("stream leader kill (%s): first new message %v after the kill; the change published %v after the kill",
		victim.name, gap2.Sub(kill2).Round(time.Millisecond), published.Sub(kill2).Round(time.Millisecond))
	if os.Getenv("SCIMSTREAM_CLUSTER_VERBOSE") != "" {
		for _, n := range nodes {
			t.Logf("---- %s ----\n%s", n.name, grepInfo(n.logText()))
		}
	}
	// The bound is issue 16's, for the CI size: at 10,000 people one collection alone takes about 6 s on a
	// 2-core machine running three nodes, and the benchmark reports the figure instead.
	if limit := 5*time.Second + 10*time.Second; published.Sub(kill2) > limit && people <= 1000 {
		t.Errorf("the change after the kill took %v, more than collect_interval + 10 s = %v", published.Sub(kill2), limit)
	}
	victim.start(t)

	// Every user once; every logical event under one Msg-Id.
	time.Sleep(2 * time.Second)
	u, redelivered := sub.unique()
	sub.mu.Lock()
	badName, reconnects := sub.badName, len(sub.reco)
	sub.mu.Unlock()
	if badName != "" {
		t.Errorf("the subscriber was connected to server_name %q", badName)
	}
	t.Logf("the subscriber reconnected %d times, always to SCIM-Stream", reconnects)
	creates := map[string]int{}
	modifies := 0
	for _, d := range u {
		switch d.op {
		case wire.CreateUser:
			creates[d.target]++
		case wire.ModifyUser:
			modifies++
		}
	}
	dupCreates := 0
	for _, n := range creates {
		if n > 1 {
			dupCreates++
		}
	}
	lost := users - len(creates)
	t.Logf("initial load: %d users, %d lost, %d with more than one create; %d modifications; %d redeliveries of the same Msg-Id (de-duplicated)",
		len(creates), lost, dupCreates, modifies, redelivered)
	if lost != 0 || dupCreates != 0 || modifies != 1 || len(u) != users+1 {
		t.Fatalf("want %d creates once each and 1 modification, got %d distinct Msg-Ids: %d users, %d duplicated, %d modifications",
			users, len(u), len(creates), dupCreates, modifies)
	}

	// The bundled gateway, given the same three URLs, provisioned its store through both kills.
	gw.stop(t)
	st, err := store.Open(gw.db)
	if err != nil {
		t.Fatal(err)
	}
	inStore, err := st.ListUsers(context.Background(), "")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, u := range inStore {
		if u["title"] == "Chief Failover Officer" {
			moved++
		}
	}
	t.Logf("bundled gateway: %d users in its store, %d with the change made after the kill; it reconnected %d times",
		len(inStore), moved, strings.Count(gw.logText(), "reconnected to the broker"))
	if len(inStore) != users || moved != 1 {
		t.Fatalf("the bundled gateway's store holds %d users (%d changed); want exactly %d and the change\n%s",
			len(inStore), moved, users, tail(gw.logText(), 40))
	}

	// 3. Publish rate: every person changes; the cluster's collection is timed, then a single node's on the same
	// change, in this run.
	waitStreamLeader(t, base, ca, urls, 3)
	offsets := map[*clusterNode]int{}
	for _, n := range nodes {
		offsets[n] = n.logSize()
	}
	bulkTitle(t, company, "Rate Test 1")
	var clusterRate time.Duration
	waitFor(t, fmt.Sprintf("the cluster publishing %d modifications", users), 10*time.Minute, func() bool {
		for _, n := range nodes {
			if d, ok := n.published(offsets[n], users); ok {
				clusterRate = d
				return true
			}
		}
		return false
	})
	for _, n := range nodes {
		n.kill()
	}
	single := &clusterNode{name: "single", port: ports[0], httpPort: ports[6], bin: bin}
	single.dir = filepath.Join(work, single.name)
	single.cfgPath = filepath.Join(single.dir, "config", "config.yaml")
	single.logPath = filepath.Join(work, "single.log")
	if err := os.MkdirAll(filepath.Dir(single.cfgPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(single.cfgPath, []byte(hrConfig(sf.URL, ports[0], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runBootstrap([]string{"-config", single.cfgPath, "-hr", demo.Tenant}, &out, &out); code != 0 {
		t.Fatalf("bootstrap: %s", out.String())
	}
	single.start(t)
	waitFor(t, "the single node's initial load", 10*time.Minute, func() bool { _, ok := single.published(0, users); return ok })
	offset := single.logSize()
	bulkTitle(t, company, "Rate Test 2")
	var singleRate time.Duration
	waitFor(t, "the single node publishing the change", 10*time.Minute, func() bool {
		var ok bool
		singleRate, ok = single.published(offset, users)
		return ok
	})
	t.Logf("publish rate, %d modifications: 3-node cluster %v (%.0f/s), single node %v (%.0f/s): cluster/single = %.2f",
		users, clusterRate.Round(time.Millisecond), float64(users)/clusterRate.Seconds(), singleRate.Round(time.Millisecond),
		float64(users)/singleRate.Seconds(), singleRate.Seconds()/clusterRate.Seconds())
}

// waitStreamLeader waits until the tenant's HR stream has a leader and want current replicas, and returns the
// leader's server name (asked through a front with SCIM Stream's own publisher identity).
func waitStreamLeader(t *testing.T, cfgPath, ca string, urls []string, want int) string {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := natsauth.TenantAccount(cfg, demo.Tenant, wire.HR)
	if err != nil {
		t.Fatal(err)
	}
	u, err := natsauth.Issue(acc, natsauth.Pub, natsauth.IssueOptions{Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca),
		nats.CustomInboxPrefix(natsauth.PublisherInbox), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var leader string
	waitFor(t, "the stream's leader and replicas", 3*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, demo.Tenant)
		if err != nil {
			return false
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return false
		}
		current := 1
		for _, r := range ci.Replicas {
			if r.Current {
				current++
			}
		}
		leader = ci.Leader
		return current >= want
	})
	return leader
}

func bulkTitle(t *testing.T, c *successfactors.Company, title string) {
	t.Helper()
	for _, id := range c.IDs() {
		if err := c.SetTitle(id, title); err != nil {
			t.Fatal(err)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			if rel == "jetstream" {
				return filepath.SkipDir
			}
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepInfo keeps the log lines above debug level, without the NATS server's.
func grepInfo(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "level=DEBUG") && !strings.Contains(l, "part=nats") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// clusterGateway is the bundled gateway (`scim-stream gateway`) as a process subscribed to HR.SF with every
// node's URL, provisioning its embedded store.
type clusterGateway struct {
	clusterNode
	db      string
	cons    func() (*jetstream.ConsumerInfo, error)
	durable string
}

func startClusterGateway(t *testing.T, bin, work, cfgPath, ca string, urls []string) *clusterGateway {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	durable := wire.DurableName("hagw", "undefined")
	u, err := natsauth.IssueSubscriber(cfg, demo.Tenant, wire.HR, "HR.SF", durable, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g := &clusterGateway{db: filepath.Join(work, "hagw.db"), durable: durable}
	g.name, g.bin, g.dir, g.logPath = "gateway", bin, work, filepath.Join(work, "gateway.log")
	yml := fmt.Sprintf(`name: hagw
scimgateway:
  port: 0
  stream:
    baseUrls: [%s]
    certificate: {ca: %q}
    subscriber:
      enabled: true
      entity:
        undefined:
          nats: {tenant: %s, subject: HR.SF, jwt: %q, secret: %q}
endpoint:
  type: store
  file: %q
`, strings.Join(urls, ", "), ca, demo.Tenant, u.JWT, u.Seed.Reveal(), g.db)
	gwPath := filepath.Join(work, "hagw.yaml")
	if err := os.WriteFile(gwPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(g.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "gateway", "-config", gwPath)
	cmd.Dir, cmd.Stdout, cmd.Stderr = work, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.cmd = cmd
	t.Cleanup(func() { g.kill() })
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca),
		nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	g.cons = func() (*jetstream.ConsumerInfo, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, demo.Tenant, durable)
		if err != nil {
			return nil, err
		}
		return c.CachedInfo(), nil
	}
	return g
}

// stop waits until the gateway acknowledged everything, then stops it with SIGTERM (it hands back what it holds
// and closes its store).
func (g *clusterGateway) stop(t *testing.T) {
	t.Helper()
	waitFor(t, "the bundled gateway to acknowledge every message", 5*time.Minute, func() bool {
		ci, err := g.cons()
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	})
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-done
	}
	g.cmd = nil
}
