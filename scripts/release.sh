#!/usr/bin/env bash
# Release binaries of SCIM Stream: static (CGO_ENABLED=0), the version stamped into `scim-stream version`, and a
# SHA256SUMS file over them.
#
#   scripts/release.sh [VERSION] [OUTDIR]
#
# VERSION defaults to `git describe --tags --always --dirty`, OUTDIR to dist/. TARGETS (GOOS/GOARCH, space
# separated) overrides the platforms: Linux on x86-64 and ARM64 (Raspberry Pi 4 and 5 with a 64-bit OS), macOS on
# Intel and Apple silicon, Windows on x86-64. Output: OUTDIR/scim-stream_<version>_<os>_<arch>[.exe].
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
out=${2:-dist}
targets=${TARGETS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"}

case "$version" in
  *[!A-Za-z0-9._+-]*|'') echo "release: version \"$version\" may hold only letters, digits and . _ + -" >&2; exit 2 ;;
esac
command -v go >/dev/null || { echo "release: go is not on PATH" >&2; exit 1; }

mkdir -p "$out"
names=()
for target in $targets; do
  goos=${target%/*}
  goarch=${target#*/}
  ext=
  [ "$goos" = windows ] && ext=.exe
  name="scim-stream_${version}_${goos}_${goarch}${ext}"
  echo "release: $name"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch \
    go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$out/$name" ./cmd/scim-stream
  names+=("$name")
done

# sha256sum (Linux) or shasum (macOS); the file verifies with `sha256sum -c SHA256SUMS` in OUTDIR.
if command -v sha256sum >/dev/null; then
  (cd "$out" && sha256sum "${names[@]}") >"$out/SHA256SUMS"
else
  (cd "$out" && shasum -a 256 "${names[@]}") >"$out/SHA256SUMS"
fi
echo "release: ${#names[@]} binaries and SHA256SUMS in $out"
