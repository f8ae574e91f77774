#!/usr/bin/env bash
# The Trino server that stands in for Athena engine v3 in `make test-athena`.
#
#   scripts/trino.sh install            download (Maven Central, SHA-1 checked) and unpack
#                                       the core server and the Iceberg plugin, once
#   scripts/trino.sh home               print the server's folder (installing if needed)
#   scripts/trino.sh run ETC DATA       run the server in the foreground with this etc/
#                                       and data folder (the tests' fixture writes both)
#
# Everything lives under .tools/trino-$version/ (gitignored). TRINO_JAVA_HOME overrides
# the JDK (Trino $version needs Java 24+); TRINO_MAVEN_REPO the repository.
set -euo pipefail

version="476"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$here/.tools/trino-$version"
home="$root/trino-server-core-$version"
repo="${TRINO_MAVEN_REPO:-https://repo1.maven.org/maven2}"
java_home="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"

fetch() { # fetch <artifact> <file>: download into $root/dl and check its .sha1
  local url="$repo/io/trino/$1/$version/$2" file="$root/dl/$2"
  mkdir -p "$root/dl"
  if [[ ! -f "$file" ]] || ! sha1_ok "$file"; then
    echo "trino.sh: downloading $url" >&2
    curl -fsSL --retry 3 -o "$file.sha1" "$url.sha1"
    curl -fsSL --retry 3 -o "$file.part" "$url"
    mv "$file.part" "$file"
    if ! sha1_ok "$file"; then
      echo "trino.sh: SHA-1 of $file does not match $url.sha1; deleted it" >&2
      rm -f "$file"
      exit 1
    fi
  fi
}

sha1_ok() {
  [[ -f "$1.sha1" ]] && [[ "$(sha1sum "$1" | cut -d' ' -f1)" == "$(cut -c1-40 "$1.sha1")" ]]
}

install() {
  if [[ -f "$root/.installed" ]]; then
    return
  fi
  fetch trino-server-core "trino-server-core-$version.tar.gz"
  fetch trino-iceberg "trino-iceberg-$version.zip"
  rm -rf "$home"
  tar -xzf "$root/dl/trino-server-core-$version.tar.gz" -C "$root"
  mkdir -p "$home/plugin"
  local unpack="$root/iceberg.tmp"
  rm -rf "$unpack"
  mkdir -p "$unpack"
  (cd "$unpack" && "${PYTHON:-python3}" -m zipfile -e "$root/dl/trino-iceberg-$version.zip" .)
  mv "$unpack/trino-iceberg-$version" "$home/plugin/iceberg"
  rm -rf "$unpack"
  touch "$root/.installed"
  echo "trino.sh: Trino $version installed in $home" >&2
}

case "${1:-}" in
  install)
    install
    ;;
  home)
    install
    echo "$home"
    ;;
  run)
    [[ $# -eq 3 ]] || { echo "usage: scripts/trino.sh run ETC_DIR DATA_DIR" >&2; exit 2; }
    install
    export JAVA_HOME="$java_home" PATH="$java_home/bin:$PATH"
    exec "$home/bin/launcher" run --etc-dir "$2" --data-dir "$3"
    ;;
  *)
    echo "usage: scripts/trino.sh install | home | run ETC_DIR DATA_DIR" >&2
    exit 2
    ;;
esac
