package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/wire"
)

// nodeConfig is a plugin-loki.json as the Node SCIM Gateway has it, with the subscriber block that
// `scim-stream creds -format gateway-json` prints.
const nodeConfig = `{
  "scimgateway": {
    "port": 0,
    "localhostonly": false,
    "scim": {
      "version": "2.0",
      "skipTypeConvert": false,
      "usePutSoftSync": true
    },
    "log": {"loglevel": {"file": "debug", "console": "error"}},
    "auth": {"basic": [{"username": "gwadmin", "password": "password", "readOnly": false, "baseEntities": []}]},
    "certificate": {"key": null, "cert": null, "ca": null},
    "stream": {
      "baseUrls": ["BASEURL"],
      "certificate": {
        "ca": "ca.pem"
      },
      "subscriber": {
        "enabled": true,
        "entity": {
          "undefined": {
            "nats": {
              "tenant": "acme",
              "subject": "ENTRA.APP1",
              "jwt": "JWT",
              "secret": "SEED"
            },
            "deleteUserOnLastGroupRoleRemoval": false,
            "skipConvertRolesToGroups": false,
            "generateUserPassword": false,
            "modifyOnly": false,
            "replaceDomains": [{
              "from": "@acme.onmicrosoft.com",
              "to": "@acme.com"
            }]
          }
        }
      },
      "publisher": null
    }
  },
  "endpoint": {
    "entity": {
      "undefined": {
        "baseUrl": "https://example.com"
      }
    }
  }
}
`

func TestNodeJSONConfigRunsUnchanged(t *testing.T) {
	t.Setenv("SEED", "gateway-test-seed")
	w := newWorld(t)
	jwt, seed := w.env.SubscriberCreds(t, tenant, wire.Entra, wire.DurableName("plugin-loki", "undefined"))
	if err := os.MkdirAll(filepath.Join(w.dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(w.env.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "certs", "ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, "plugin-loki.json")
	// The documentation's form: nats://host:port, upgraded to TLS because the broker requires it.
	url := strings.Replace(w.env.URL(), "tls://", "nats://", 1)
	text := strings.NewReplacer("BASEURL", url, "JWT", jwt, "SEED", seed).Replace(nodeConfig)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	// Secrets are encrypted in place, the rest of the file is byte for byte the same and still JSON.
	after, _ := os.ReadFile(path)
	if strings.Contains(string(after), seed) || strings.Contains(string(after), `"password"`+": \"password\"") {
		t.Fatalf("clear-text secrets left in the file:\n%s", after)
	}
	if !json.Valid(after) {
		t.Fatalf("the file is no longer JSON:\n%s", after)
	}
	if n := strings.Count(string(after), `"enc:v1:`); n != 2 {
		t.Fatalf("%d encrypted values, want 2 (nats secret, auth password):\n%s", n, after)
	}
	if strings.ReplaceAll(string(after), "\n", "") == "" || len(strings.Split(string(after), "\n")) != len(strings.Split(text, "\n")) {
		t.Fatal("line structure changed")
	}
	if cfg.Name != "plugin-loki" || cfg.EndpointType() != "store" || cfg.Scimgateway.Port != 0 {
		t.Fatalf("name %q, endpoint %q, port %d", cfg.Name, cfg.EndpointType(), cfg.Scimgateway.Port)
	}
	var auth struct {
		Basic []struct{ Username, Password string }
	}
	if err := cfg.Decode("scimgateway.auth", &auth); err != nil || len(auth.Basic) != 1 || auth.Basic[0].Password != "password" {
		t.Fatalf("Decode(scimgateway.auth) = %+v, %v; want the decrypted password", auth, err)
	}
	// Loading again reads the encrypted file.
	if cfg, err = gateway.LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	if cfg.Scimgateway.Stream.Subscriber.Entity["undefined"].NATS.Secret.Reveal() != seed {
		t.Fatal("the seed does not decrypt to the original")
	}

	r := w.start(cfg)
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("node@acme.onmicrosoft.com")))
	if evs := r.waitEvents(t, 1); evs[0].Action != gateway.ActionCreated {
		t.Fatalf("action %s (%v)\n%s", evs[0].Action, evs[0].Err, r.log)
	}
	r.user(t, "node@acme.com")
	if _, err := os.Stat(filepath.Join(w.dir, "plugin-loki.db")); err != nil {
		t.Fatalf("store file next to the config: %v", err)
	}
	if !strings.Contains(r.log.String(), "keys ignored by the store endpoint") {
		t.Errorf("no warning about the Node plugin's endpoint block:\n%s", r.log)
	}
	if strings.Contains(r.log.String(), seed) {
		t.Fatal("the seed is in the log")
	}
}

func TestYAMLConfig(t *testing.T) {
	t.Setenv("SEED", "gateway-test-seed")
	w := newWorld(t)
	jwt, seed := w.env.SubscriberCreds(t, tenant, wire.HR, wire.DurableName("hr-gateway", "undefined"))
	path := filepath.Join(w.dir, "gateway.yaml")
	text := `# our gateway
name: hr-gateway
scimgateway:
  port: 0
  stream:
    baseUrls: [` + w.env.URL() + `]
    certificate:
      ca: ` + w.env.CAFile() + `
    subscriber:
      enabled: true
      entity:
        undefined:
          nats:
            tenant: acme
            subject: HR.SF
            jwt: ` + jwt + `
            secret: ` + seed + ` # from scim-stream creds
          modifyOnly: false
endpoint:
  type: store
  file: people.db
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if strings.Contains(string(after), seed) || !strings.Contains(string(after), "# from scim-stream creds") {
		t.Fatalf("want the seed encrypted and comments kept:\n%s", after)
	}
	r := w.start(cfg)
	w.publish("HR.SF", nextID(), msg(wire.CreateUser, person("yaml@acme.com")))
	r.waitEvents(t, 1)
	r.user(t, "yaml@acme.com")
	if r.st.Path() != filepath.Join(w.dir, "people.db") {
		t.Fatalf("store at %s", r.st.Path())
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	w := newWorld(t)
	userJWT, _ := w.env.SubscriberCreds(t, tenant, wire.HR, "")
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	os.WriteFile(path, []byte(`
scimgateway:
  stream:
    subscriber:
      enabled: true
      entity:
        undefined:
          nats: {tenant: acme, subject: APP1, jwt: "", secret: "not-a-seed"}
          replaceDomains: [{from: acme.com, to: "@x.com"}]
        other:
          nats: {tenant: acme, subject: HR.SF, jwt: "eyJnot.a.jwt", secret: "`+string(seed)+`"}
        mismatch:
          nats: {tenant: acme, subject: HR.SF, jwt: "`+userJWT+`", secret: "`+string(seed)+`"}
`), 0o600)
	t.Setenv("SEED", "x")
	_, err := gateway.LoadConfig(path)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"scimgateway.stream.baseUrls: is mandatory",
		"entity.undefined.nats.subject: \"APP1\" is not a channel subject",
		"entity.undefined.nats.jwt: is mandatory",
		"entity.undefined.nats.secret: is not an NKey user seed",
		"entity.undefined.replaceDomains[0].from",
		"entity.other.nats.jwt: is not a NATS user JWT",
		"entity.mismatch.nats.secret: is not the seed of the user in nats.jwt",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "not-a-seed") {
		t.Error("the error reveals the secret")
	}
	// Encrypted with another SEED: a clear error naming the key.
	t.Setenv("SEED", "another")
	_, err = gateway.LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), "nats.secret: cannot be decrypted") {
		t.Fatalf("wrong SEED: %v", err)
	}
}

func TestUnknownEndpointType(t *testing.T) {
	cfg := &gateway.Config{Name: "x", Dir: t.TempDir()}
	cfg.Endpoint.Type = "nosuch"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := gateway.Open(ctx, cfg, options(nil)); err == nil || !strings.Contains(err.Error(), `unknown endpoint type "nosuch"`) {
		t.Fatalf("err = %v", err)
	}
}
