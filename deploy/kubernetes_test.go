package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
)

// The manifests are read as plain YAML documents (yaml.v3), not with the Kubernetes client types, which the
// module does not depend on: the tests look at the fields that connect a manifest to the binary.

type manifest struct {
	file string
	doc  map[string]any
}

func (m manifest) kind() string { return str(m.doc["kind"]) }
func (m manifest) name() string { return str(get(m.doc, "metadata", "name")) }

func str(v any) string {
	s, _ := v.(string)
	return s
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// readManifests parses every YAML document of every file in deploy/kubernetes.
func readManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	var out []manifest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc == nil {
				continue
			}
			m := manifest{file: f, doc: doc}
			if str(doc["apiVersion"]) == "" || m.kind() == "" || m.name() == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			out = append(out, m)
		}
	}
	return out
}

// workload is a Deployment's or StatefulSet's scim-stream container with its pod.
type workload struct {
	manifest
	pod       map[string]any
	container map[string]any
	args      []string
}

func workloads(t *testing.T, ms []manifest) []workload {
	t.Helper()
	var out []workload
	for _, m := range ms {
		if m.kind() != "Deployment" && m.kind() != "StatefulSet" {
			continue
		}
		pod, _ := get(m.doc, "spec", "template", "spec").(map[string]any)
		if pod == nil {
			t.Errorf("%s: %s %s has no spec.template.spec", m.file, m.kind(), m.name())
			continue
		}
		for _, c := range list(pod["containers"]) {
			c := c.(map[string]any)
			if !strings.Contains(str(c["image"]), "scim-stream") {
				continue
			}
			// The image's ENTRYPOINT is the binary: args are its sub-command and flags.
			if c["command"] != nil {
				t.Errorf("%s: container %s sets command; the image's entrypoint is the binary, set args", m.file, c["name"])
			}
			out = append(out, workload{manifest: m, pod: pod, container: c, args: strs(c["args"])})
		}
	}
	if len(out) == 0 {
		t.Fatal("deploy/kubernetes: no Deployment or StatefulSet with a scim-stream container")
	}
	return out
}

// containerPorts maps each port's name and number (as text) to the number.
func containerPorts(c map[string]any) map[string]int {
	out := map[string]int{}
	for _, p := range list(c["ports"]) {
		n, _ := get(p, "containerPort").(int)
		out[strconv.Itoa(n)] = n
		if name := str(get(p, "name")); name != "" {
			out[name] = n
		}
	}
	return out
}

// probes returns each probe kind's httpGet path and port.
func probes(c map[string]any) map[string][2]string {
	out := map[string][2]string{}
	for _, kind := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		if h := get(c, kind, "httpGet"); h != nil {
			out[kind] = [2]string{str(get(h, "path")), fmt.Sprint(get(h, "port"))}
		}
	}
	return out
}

// dockerUser is the runtime stage's USER uid.
func dockerUser(t *testing.T) string {
	t.Helper()
	stages, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	users := stages[len(stages)-1].all("USER")
	if len(users) == 0 {
		t.Fatal("Dockerfile: no USER")
	}
	uid, _, _ := strings.Cut(users[len(users)-1].args, ":")
	return uid
}

func TestKubernetesManifestsMatchTheBinary(t *testing.T) {
	ms := readManifests(t)
	uid := dockerUser(t)
	for _, w := range workloads(t, ms) {
		where := fmt.Sprintf("%s: %s %s", w.file, w.kind(), w.name())
		acceptsFlags(t, w.args)
		ports := containerPorts(w.container)

		// Probes: on the port -http listens on, under liveness /healthz and readiness /readyz.
		httpAddr, i := flagValue(w.args, "http")
		if i < 0 {
			t.Errorf("%s: args %v have no -http: no health endpoints", where, w.args)
			continue
		}
		httpPort := portOf(t, httpAddr)
		pr := probes(w.container)
		if pr["livenessProbe"][0] != "/healthz" || pr["readinessProbe"][0] != "/readyz" {
			t.Errorf("%s: liveness %q and readiness %q, want /healthz and /readyz", where, pr["livenessProbe"][0], pr["readinessProbe"][0])
		}
		for kind, p := range pr {
			if ports[p[1]] != httpPort {
				t.Errorf("%s: %s port %s is container port %d, but -http listens on %d", where, kind, p[1], ports[p[1]], httpPort)
			}
		}

		// The NATS client port is the configuration's (default or overridden).
		natsPort := config.DefaultNatsPort
		env := map[string]any{}
		for _, e := range list(w.container["env"]) {
			name := str(get(e, "name"))
			checkEnvName(t, where, name)
			env[name] = e
			if strings.EqualFold(name, "SCIM_STREAM_NATS_SERVER_PORT") {
				natsPort, _ = strconv.Atoi(str(get(e, "value")))
			}
		}
		if ports["nats"] != natsPort {
			t.Errorf("%s: container port nats is %d, the broker listens on %d", where, ports["nats"], natsPort)
		}
		if get(env["SEED"], "valueFrom", "secretKeyRef", "name") == nil {
			t.Errorf("%s: SEED is not taken from a Secret (env SEED valueFrom.secretKeyRef)", where)
		}

		// The configuration's directory is a mounted volume (the store and certificates live there).
		cfg, i := flagValue(w.args, "config")
		mounted := false
		for _, vm := range list(w.container["volumeMounts"]) {
			if mp := str(get(vm, "mountPath")); i >= 0 && (filepath.Dir(cfg) == mp || strings.HasPrefix(cfg, mp+"/")) {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: -config %q is not on a mounted volume", where, cfg)
		}

		// The pod runs as the image's non-root user.
		if get(w.pod, "securityContext", "runAsNonRoot") != true || fmt.Sprint(get(w.pod, "securityContext", "runAsUser")) != uid {
			t.Errorf("%s: pod securityContext: want runAsNonRoot and runAsUser %s (the Dockerfile's USER)", where, uid)
		}

		// Services select this pod and target its named ports.
		podLabels, _ := get(w.doc, "spec", "template", "metadata", "labels").(map[string]any)
		for _, m := range ms {
			if m.kind() != "Service" {
				continue
			}
			sel, _ := get(m.doc, "spec", "selector").(map[string]any)
			match := len(sel) > 0
			for k, v := range sel {
				if podLabels[k] != v {
					match = false
				}
			}
			if !match {
				continue
			}
			for _, p := range list(get(m.doc, "spec", "ports")) {
				if tp := fmt.Sprint(get(p, "targetPort")); ports[tp] == 0 {
					t.Errorf("%s: Service %s targets port %s, which the pod of %s does not declare", m.file, m.name(), tp, where)
				}
			}
		}
	}
}

// remapMounts replaces each mount path in s by its directory on this machine; a mount path matches as a whole
// path element, so that /config does not match in /config-source.
func remapMounts(s string, mounts map[string]string) string {
	paths := make([]string, 0, len(mounts))
	for p := range mounts {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		re := regexp.MustCompile(regexp.QuoteMeta(p) + `(/|$|[\s"'])`)
		s = re.ReplaceAllStringFunc(s, func(m string) string { return mounts[p] + m[len(p):] })
	}
	return s
}

// TestKubernetesDeploymentServesItsProbes starts the single-node Deployment's pod on this machine: each volume
// is a temporary directory (the Secret's holds what the README tells to put into it), the init containers' shell
// scripts run with /bin/sh, then the binary with the container's args and env, its -http on a free loopback
// port; every probe path of the manifest must answer 200, and SIGTERM must stop it with exit 0.
func TestKubernetesDeploymentServesItsProbes(t *testing.T) {
	var w *workload
	for _, x := range workloads(t, readManifests(t)) {
		if x.kind() == "Deployment" {
			w = &x
		}
	}
	if w == nil {
		t.Fatal("deploy/kubernetes: no Deployment")
	}
	root := t.TempDir()
	seed := "kubernetes-test-seed"
	staging := newInstallation(t, filepath.Join(root, "staging", "config", "config.yaml"), seed)

	// The Secret, as `kubectl create secret generic` in the README makes it.
	secrets := map[string]map[string]string{}
	secretData := map[string]string{"SEED": seed}
	for name, from := range map[string]string{
		"config.yaml": staging.cfgPath,
		"ca.pem":      filepath.Join(filepath.Dir(staging.cfgPath), "certs", "ca.pem"),
		"cert.pem":    filepath.Join(filepath.Dir(staging.cfgPath), "certs", "cert.pem"),
		"key.pem":     filepath.Join(filepath.Dir(staging.cfgPath), "certs", "key.pem"),
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		secretData[name] = string(b)
	}

	volumes := map[string]string{} // volume name -> directory
	for _, v := range list(w.pod["volumes"]) {
		name := str(get(v, "name"))
		dir := filepath.Join(root, "volumes", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		volumes[name] = dir
		if sn := str(get(v, "secret", "secretName")); sn != "" {
			secrets[sn] = secretData
			for k, val := range secretData {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(val), 0o400); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	mountsOf := func(c map[string]any) map[string]string {
		out := map[string]string{}
		for _, vm := range list(c["volumeMounts"]) {
			dir, ok := volumes[str(get(vm, "name"))]
			if !ok {
				t.Fatalf("%s: container %s mounts volume %s, which the pod does not define", w.file, c["name"], get(vm, "name"))
			}
			out[str(get(vm, "mountPath"))] = dir
		}
		return out
	}

	runInit := func() {
		for _, ic := range list(w.pod["initContainers"]) {
			ic := ic.(map[string]any)
			cmd := append(strs(ic["command"]), strs(ic["args"])...)
			if len(cmd) < 3 || cmd[0] != "sh" || cmd[1] != "-c" {
				t.Fatalf("%s: init container %s: only `sh -c SCRIPT` can run here, got %v", w.file, ic["name"], cmd)
			}
			m := mountsOf(ic)
			for i := range cmd {
				cmd[i] = remapMounts(cmd[i], m)
			}
			if out, err := exec.Command("/bin/sh", cmd[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: init container %s: %v\n%s", w.file, ic["name"], err, out)
			}
		}
	}
	runInit()

	m := mountsOf(w.container)
	args := make([]string, len(w.args))
	for i, a := range w.args {
		args[i] = remapMounts(a, m)
	}
	port := freePort(t)
	args = setFlag(args, "http", "127.0.0.1:"+strconv.Itoa(port))
	var env []string
	for _, e := range list(w.container["env"]) {
		name := str(get(e, "name"))
		if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
			val, ok := secrets[str(get(ref, "name"))][str(get(ref, "key"))]
			if !ok && get(ref, "optional") != true {
				// The pod would not start: the README's Secret must hold this key.
				t.Fatalf("%s: env %s from Secret %s key %s, which the README's Secret does not hold", w.file, name, get(ref, "name"), get(ref, "key"))
			}
			env = append(env, name+"="+val)
			continue
		}
		env = append(env, name+"="+str(get(e, "value")))
	}
	workdir := filepath.Join(root, "workdir")
	if err := os.Mkdir(workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := start(t, workdir, args, env)
	var paths []string
	for _, pr := range probes(w.container) {
		if !slices.Contains(paths, pr[0]) {
			paths = append(paths, pr[0])
		}
	}
	sort.Strings(paths)
	for _, path := range paths {
		p.waitOK(t, fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	}
	p.stop(t)
	if entries, _ := os.ReadDir(workdir); len(entries) > 0 {
		t.Errorf("the binary wrote into its working directory (readOnlyRootFilesystem): %v", entries)
	}
	if _, err := os.Stat(filepath.Join(volumes["config"], "jetstream")); err != nil {
		t.Errorf("the JetStream store is not on the config volume: %v", err)
	}

	// A restart with the same Secret keeps what the binary wrote back (the initial load turned off): the
	// Secret's do_initial_load: true must not republish every user at each start.
	cfgPath, _ := flagValue(args, "config")
	written, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(written), "do_initial_load: false") {
		t.Fatalf("the binary did not write back do_initial_load: false after the initial load:\n%s", written)
	}
	runInit()
	if again, _ := os.ReadFile(cfgPath); string(again) != string(written) {
		t.Errorf("a restart with the same Secret replaced the configuration the binary wrote back")
	}
	// A changed Secret applies at the next start.
	changed := secretData["config.yaml"] + "\n# changed\n"
	if err := os.Chmod(filepath.Join(volumes["config-source"], "config.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(volumes["config-source"], "config.yaml"), []byte(changed), 0o400); err != nil {
		t.Fatal(err)
	}
	runInit()
	if again, _ := os.ReadFile(cfgPath); string(again) != changed {
		t.Errorf("a changed Secret was not copied onto the volume")
	}
}
