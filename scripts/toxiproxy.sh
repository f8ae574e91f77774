#!/usr/bin/env bash
# The pinned toxiproxy server that the fault tier puts between the jobs and moto (tests/faults).
#
#   scripts/toxiproxy.sh install   build it once from the Go module proxy (needs Go 1.17+)
#                                  and print the binary's path; a no-op when it is built
#   scripts/toxiproxy.sh path      print the binary's path (installing if needed)
#
# Everything lives under .tools/ (gitignored), as kustomize and Trino do: the binary in
# .tools/toxiproxy-$version/, and Go's module and build caches in .tools/go/, so the build
# writes nothing outside the checkout (the module cache is made writable, -modcacherw, so
# `rm -rf .tools` can delete it). GO overrides the go command.
set -euo pipefail

version="v2.5.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$here/.tools/toxiproxy-$version"
bin="$dir/toxiproxy-server"
gocache="$here/.tools/go"
go="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

# What the server prints for -version when it was built with the version stamped in (below).
installed() {
  [[ -x "$bin" ]] && [[ "$("$bin" -version 2> /dev/null)" == "toxiproxy-server version ${version#v}" ]]
}

install() {
  if installed; then
    return
  fi
  if [[ ! -x "$go" ]]; then
    echo "toxiproxy.sh: no go command: install Go 1.17+ (or set GO) to build toxiproxy $version" >&2
    exit 3
  fi
  echo "toxiproxy.sh: building toxiproxy $version into $dir (once)" >&2
  # go install names the binary after its package folder (cmd/server): build it into a
  # scratch folder and move it into place, so a failed build leaves no binary behind.
  local scratch="$dir/gobin.tmp"
  rm -rf "$scratch"
  mkdir -p "$scratch" "$gocache"
  # The release builds stamp the version the same way (its .goreleaser.yml); unstamped,
  # the server calls itself "git" and `installed` could not tell versions apart.
  GOBIN="$scratch" GOPATH="$gocache" GOMODCACHE="$gocache/pkg/mod" \
    GOCACHE="$gocache/cache" GOTOOLCHAIN=local CGO_ENABLED=0 \
    GOFLAGS="-buildvcs=false -modcacherw" \
    "$go" install -trimpath \
    -ldflags "-s -w -X github.com/Shopify/toxiproxy/v2.Version=${version#v}" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$version" >&2
  mv "$scratch/server" "$bin"
  rm -rf "$scratch"
  if ! installed; then
    echo "toxiproxy.sh: $bin does not report version ${version#v}" >&2
    exit 1
  fi
}

case "${1:-}" in
  install | path)
    install
    echo "$bin"
    ;;
  *)
    echo "usage: scripts/toxiproxy.sh install | path" >&2
    exit 2
    ;;
esac
