package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	checkSteps = append(checkSteps, checkStartup, checkPlaceholders)
}

// checkStartup reports what `run` refuses at start-up beyond the file's own validation: a configuration without
// NATS operator or tenant (an empty file, a file never bootstrapped), and a tenant whose source cannot be built
// (HR base URLs, query and auth, SAML key files; Entra tenant id, URLs and credentials). With check ok, run
// starts every tenant.
func checkStartup(cfgPath string, c *config.Config) []error {
	if c.NeedsBootstrap() {
		return []error{&config.Error{File: cfgPath, Msg: "no NATS operator or no collector tenant yet (scim-stream run refuses to start): " +
			"run scim-stream bootstrap -entra <tenant> -hr <tenant>"}}
	}
	env := &runEnv{ConfigPath: cfgPath, Log: slog.New(slog.DiscardHandler)}
	sources := sourcesFor(env)
	var out []error
	if st := c.Nats.Server.Auth.State; st == nil || st.JWT == "" {
		// run starts, but no collector can keep its state: every tenant retries forever.
		out = append(out, &config.Error{File: cfgPath, Path: "nats.server.auth.state",
			Msg: "the internal state account is missing (no collector could run): run scim-stream bootstrap again to add it"})
	}
	for _, kind := range []struct {
		typ     wire.Type
		tenants map[string]*config.Tenant
	}{{wire.Entra, c.Entra}, {wire.HR, c.HR}} {
		for _, name := range sortedNames(kind.tenants) {
			if _, err := natsauth.TenantAccount(c, name, kind.typ); err != nil {
				out = append(out, &config.Error{File: cfgPath, Line: config.KeyLine(cfgPath, kind.typ.Key(), name),
					Path: kind.typ.Key() + "." + name, Msg: err.Error() + " (scim-stream run would not start this tenant)"})
				continue
			}
			t, err := collector.Compile(name, kind.typ, kind.tenants[name])
			if err != nil {
				continue // the mapper, rules and dynamics steps report these with their lines
			}
			if _, err := sources[kind.typ](t); err != nil {
				out = append(out, &config.Error{File: cfgPath, Line: config.KeyLine(cfgPath, kind.typ.Key(), name),
					Path: kind.typ.Key() + "." + name, Msg: err.Error() + " (scim-stream run would not start this tenant)"})
			}
		}
	}
	return out
}

func sortedNames(m map[string]*config.Tenant) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// placeholderRe matches the placeholders bootstrap and the documentation write (<tenant-id>, <client-secret>,
// <App1-EnterpriseAppObjectID>); skeletonHost is the HR skeleton's base URL.
var (
	placeholderRe = regexp.MustCompile(`<[A-Za-z][A-Za-z0-9_-]*>`)
	skeletonHost  = "hr-api.example.com"
)

// checkPlaceholders reports every value that still holds a placeholder: in the file (with its line), and secrets
// whose decrypted value is one (bootstrap writes placeholder secrets encrypted, so the file does not show them).
func checkPlaceholders(cfgPath string, c *config.Config) []error {
	var out []error
	seen := map[string]bool{}
	report := func(path string, line int, v string, secret bool) {
		if seen[path] {
			return
		}
		seen[path] = true
		what := placeholderRe.FindString(v)
		if what == "" {
			what = skeletonHost
		}
		msg := fmt.Sprintf("placeholder %s was never replaced: put the real value (scim-stream run cannot use it)", what)
		if secret {
			// The value is not printed: secrets never are, placeholders included.
			msg = "this secret still holds the placeholder bootstrap wrote: put the real secret (it is encrypted at the next run)"
		}
		out = append(out, &config.Error{File: cfgPath, Line: line, Path: path, Msg: msg})
	}
	b, err := os.ReadFile(cfgPath)
	var doc yaml.Node
	if err == nil && yaml.Unmarshal(b, &doc) == nil && len(doc.Content) > 0 {
		walkYAML(doc.Content[0], "", func(path string, n *yaml.Node) {
			if (path == "entra" || path == "hr" || strings.HasPrefix(path, "entra.") || strings.HasPrefix(path, "hr.")) &&
				!strings.HasPrefix(n.Value, config.EncPrefix) && isPlaceholder(n.Value) {
				report(path, n.Line, n.Value, false)
			}
		})
	}
	for _, kind := range []struct {
		name    string
		tenants map[string]*config.Tenant
	}{{"entra", c.Entra}, {"hr", c.HR}} {
		for _, name := range sortedNames(kind.tenants) {
			walkSecrets(reflect.ValueOf(kind.tenants[name]).Elem(), kind.name+"."+name, func(path string, s config.Secret) {
				if isPlaceholder(s.Reveal()) {
					report(path, lineOf(&doc, path), s.Reveal(), true)
				}
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].(*config.Error).Line < out[j].(*config.Error).Line })
	return out
}

func isPlaceholder(v string) bool {
	return placeholderRe.MatchString(v) || strings.Contains(v, "://"+skeletonHost)
}

// walkYAML calls f with every scalar below n and its dotted path (sequence elements as [i]).
func walkYAML(n *yaml.Node, path string, f func(string, *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			walkYAML(n.Content[i+1], p, f)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkYAML(c, path+"["+strconv.Itoa(i)+"]", f)
		}
	case yaml.ScalarNode:
		f(path, n)
	}
}

// lineOf is the line of the value at a dotted path in doc, 0 when it is not in the file (environment, vault).
func lineOf(doc *yaml.Node, path string) int {
	line := 0
	if len(doc.Content) > 0 {
		walkYAML(doc.Content[0], "", func(p string, n *yaml.Node) {
			if p == path {
				line = n.Line
			}
		})
	}
	return line
}

var secretType = reflect.TypeFor[config.Secret]()

// walkSecrets calls f with every config.Secret below v and its dotted path, by the fields' yaml keys.
func walkSecrets(v reflect.Value, path string, f func(string, config.Secret)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkSecrets(v.Elem(), path, f)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || key == "" || key == "-" {
				continue
			}
			walkSecrets(v.Field(i), path+"."+key, f)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkSecrets(v.Index(i), path+"["+strconv.Itoa(i)+"]", f)
		}
	case reflect.String:
		if v.Type() == secretType {
			f(path, config.Secret(v.String()))
		}
	}
}
