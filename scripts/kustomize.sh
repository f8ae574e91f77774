#!/usr/bin/env bash
# Run the pinned kustomize: scripts/kustomize.sh build k8s/overlays/prod
#
# The binary is built once from the Go module proxy into .tools/ (about 30 s; needs Go
# 1.22+). Without Go, or if that fails, `kubectl kustomize` is used (kubectl 1.27+
# embeds kustomize v5).
# KUSTOMIZE=/path/to/kustomize overrides both. Exit 3 when none of them is available.
set -euo pipefail

version="v5.7.1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/.tools/kustomize-$version/kustomize"

if [[ -n "${KUSTOMIZE:-}" ]]; then
  exec "$KUSTOMIZE" "$@"
fi
if [[ ! -x "$bin" ]] && command -v go > /dev/null; then
  echo "kustomize.sh: building kustomize $version into ${bin%/kustomize} (once)" >&2
  if ! GOBIN="$(dirname "$bin")" GOFLAGS=-buildvcs=false \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$version" >&2; then
    echo "kustomize.sh: building kustomize $version failed" >&2
  fi
fi
if [[ -x "$bin" ]]; then
  exec "$bin" "$@"
fi
if command -v kubectl > /dev/null && [[ "${1:-}" == "build" ]]; then
  shift
  exec kubectl kustomize "$@"
fi
echo "kustomize.sh: no kustomize: install Go (to build $version), kubectl, or set KUSTOMIZE" >&2
exit 3
