#!/usr/bin/env bash
# Every test of SCIM Stream, on a fresh Debian/Ubuntu machine with Go: installs what the tests need when it is
# missing, then formatting, vet, all Go tests with the race detector, and the suites that need Node packages
# (Microsoft's SCIM reference collection with newman, the npm differential tests of the scim package).
# Exits non-zero on the first failure. CI (.ci/run) runs exactly this script.
#
# Installs when missing (apt-get, with sudo when not root): slapd and ldap-utils (the ldap endpoint is tested
# against a real slapd that the tests start themselves), nodejs and npm (the scim endpoint is tested against the
# npm SCIMMY reference server, which its test installs with pinned versions; newman and the differential tests'
# packages are installed below, pinned, into a temporary directory).
#
# Environment: SCIM_CONFORMANCE_DIR, the directory holding Microsoft's SCIM reference collection (kept outside
# the repository; default ../shared/scim-conformance beside this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0

command -v go >/dev/null || { echo "test: go is not on PATH (install Go 1.26 or later)" >&2; exit 1; }
go version

# staticcheck (honnef.co/go/tools), pinned.
STATICCHECK_VERSION="v0.8.2"
# npm packages of the Node suites, pinned.
NEWMAN_PKG="newman@6.2.2"
NPMDIFF_PKGS="scim2-parse-filter@0.2.10 scim-patch@0.8.3"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -q
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

tmp=$(mktemp -d)
policy_rc=
cleanup() {
  [ -z "$policy_rc" ] || as_root rm -f /usr/sbin/policy-rc.d
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- test dependencies ----
echo "== test dependencies"
if ! command -v slapd >/dev/null && [ ! -x /usr/sbin/slapd ]; then
  # The tests run their own slapd on a free loopback port: keep the package's system service from starting.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    policy_rc=1
  fi
  apt_install slapd ldap-utils
  if [ -n "$policy_rc" ]; then
    as_root rm -f /usr/sbin/policy-rc.d
    policy_rc=
  fi
fi
if [ -e /etc/apparmor.d/usr.sbin.slapd ] && command -v apparmor_parser >/dev/null; then
  # Distributions that confine slapd (Ubuntu) forbid the config and database the tests generate in a temp dir.
  as_root apparmor_parser -R /etc/apparmor.d/usr.sbin.slapd 2>/dev/null || true
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
echo "slapd: $(command -v slapd || echo /usr/sbin/slapd), node $(node --version), npm $(npm --version)"
(cd "$tmp" && npm install --no-audit --no-fund --loglevel=error $NEWMAN_PKG $NPMDIFF_PKGS >/dev/null)
echo "npm: $NEWMAN_PKG $NPMDIFF_PKGS installed into a temporary directory"

# ---- static checks ----
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags newman ./gateway/scimserver
go vet -tags npmdiff ./scim

echo "== staticcheck"
gobin=$(go env GOBIN)
staticcheck="${gobin:-$(go env GOPATH)/bin}/staticcheck"
if ! "$staticcheck" -version 2>/dev/null | grep -qF "(${STATICCHECK_VERSION#v})"; then
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$staticcheck" ./...

# ---- tests ----
echo "== go test -race (every package)"
go test -race -count=1 -timeout 25m ./...

echo "== go test -tags npmdiff (scim filter and PATCH against scim2-parse-filter and scim-patch)"
SCIM_NPM_MODULES="$tmp/node_modules" go test -count=1 -timeout 10m -tags npmdiff -run Differential ./scim

echo "== go test -tags newman (Microsoft's SCIM reference collection against the gateway's SCIM server)"
conformance=${SCIM_CONFORMANCE_DIR:-../shared/scim-conformance}
collection=$conformance/microsoft-scim-reference.postman_collection.json
external=done
if [ -f "$collection" ]; then
  # pipefail keeps go test's exit status through the filter.
  NEWMAN="$tmp/node_modules/.bin/newman" SCIM_CONFORMANCE_DIR="$(cd "$conformance" && pwd)" \
    go test -count=1 -timeout 10m -tags newman -run Newman -v ./gateway/scimserver | grep -E '^(=== RUN|--- |PASS|FAIL|ok )|newman_test.go'
elif [ -n "${SCIM_CONFORMANCE_DIR:-}" ]; then
  echo "test: SCIM_CONFORMANCE_DIR=$SCIM_CONFORMANCE_DIR has no microsoft-scim-reference.postman_collection.json" >&2
  exit 1
else
  # Third-party test data, kept outside the repository: a fresh clone does not have it.
  external="NOT run: $collection (Microsoft's SCIM reference collection, kept outside the repository) is missing; set SCIM_CONFORMANCE_DIR to its directory"
  echo "test: external conformance run $external"
fi

echo "== all tests passed in ${SECONDS}s (external conformance run: $external)"
