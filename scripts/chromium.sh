#!/usr/bin/env bash
# The headless browser of the report's browser test (`make test-report`): Debian's chromium.
#
#   scripts/chromium.sh install     apt-get install chromium when /usr/bin/chromium is
#                                   missing (needs root or sudo); a no-op once installed
#   scripts/chromium.sh path        print the browser's path (CHROMIUM overrides it)
#
# Test tools' own browser downloads (`playwright install`) cannot be used here: the tests
# drive this binary through playwright's `executable_path`.
set -euo pipefail

browser="${CHROMIUM:-/usr/bin/chromium}"

install() {
  if [[ -x "$browser" ]]; then
    return
  fi
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo > /dev/null; then
      echo "chromium.sh: $browser is missing and this user cannot install packages;" \
        "run 'apt-get install chromium' as root or set CHROMIUM to a Chromium binary" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  echo "chromium.sh: installing Debian's chromium" >&2
  # Other apt users on the machine: wait for the dpkg lock instead of failing.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends chromium > /dev/null
  "$browser" --version >&2
}

case "${1:-}" in
  install) install ;;
  path) echo "$browser" ;;
  *)
    echo "usage: scripts/chromium.sh install|path" >&2
    exit 2
    ;;
esac
