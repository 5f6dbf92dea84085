// Package deploy holds no code: its directory holds the packaging (Kubernetes manifests in kubernetes/, the
// systemd unit in systemd/) and its tests check that packaging, the Dockerfile and the release script against
// the binary they run: every flag, environment variable, port and probe path is one the binary really reads
// and serves, shown by starting the built binary with them.
package deploy
