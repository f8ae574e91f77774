#!/usr/bin/env bash
# Build the driver JVM's class-data archive: scripts/jvm-archive.sh [ARCHIVE]
#
# A Spark driver loads and verifies thousands of classes of Spark, Iceberg and their
# libraries every time it starts: about 5 s of CPU on this project's jobs (a small ingest
# 25 s -> 16 s, a run that finds no input 15 s -> 9 s). A dynamic class-data-sharing
# archive (JDK 13+, ArchiveClassesAtExit) holds those classes already parsed and
# verified; ./spark-submit.sh maps it when it exists (TRADELAKE_JVM_ARCHIVE).
#
# The archive is made by one small sample ingest and written under a temporary name,
# then renamed into place, so a driver starting meanwhile never maps half a file. A JVM
# refuses an archive that does not match its JDK or Spark's jars (it starts as if there
# were none), so a stale archive costs speed, never correctness; `make setup` rebuilds it
# when the virtualenv or the pinned jars change.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
archive="${1:-$here/build/jvm/spark.jsa}"
python="${TRADELAKE_VENV:-$here/.venv}/bin/python"
mkdir -p "$(dirname "$archive")"
work="$(mktemp -d "${TMPDIR:-/tmp}/tradelake-jvm-archive.XXXXXX")"
trap 'rm -rf "$work"' EXIT
staging="$(dirname "$archive")/.$(basename "$archive").$$"

"$python" -m tradelake.sample --date 2025-01-15 --out "$work/raw" --trades 500 --files 3 \
  > /dev/null
started=$SECONDS
# The archive records which classes this run loaded; the JVM writes it when it exits.
# A clean environment: the local profile on a scratch lake, whatever the caller's
# TRADELAKE_* settings point at (a Glue catalog, a lineage collector).
env -i PATH="$PATH" HOME="${HOME:-/tmp}" ${JAVA_HOME:+JAVA_HOME="$JAVA_HOME"} \
  TRADELAKE_VENV="${TRADELAKE_VENV:-$here/.venv}" \
  TRADELAKE_JARS_DIR="${TRADELAKE_JARS_DIR:-$here/.jars}" \
  TRADELAKE_CONF_DIR="$here/conf" \
  TRADELAKE_JVM_ARCHIVE="" \
  SPARK_JAVA_OPTS_EXTRA="-XX:ArchiveClassesAtExit=$staging" \
  TRADELAKE_RAW_URI="$work/raw" \
  TRADELAKE_WAREHOUSE="$work/warehouse" \
  TRADELAKE_CATALOG_URI="jdbc:sqlite:$work/catalog.db" \
  TRADELAKE_LINEAGE__TRANSPORT=none \
  "$here/spark-submit.sh" "$here/jobs/ingest.py" --date 2025-01-15 > "$work/ingest.log" 2>&1 ||
  {
    echo "jvm-archive: the sample ingest failed; its output:" >&2
    tail -40 "$work/ingest.log" >&2
    rm -f "$staging"
    exit 1
  }
if [[ ! -s "$staging" ]]; then
  echo "jvm-archive: the JVM wrote no archive (a JDK without dynamic CDS?); drivers start without one" >&2
  exit 1
fi
mv -f "$staging" "$archive"
echo "jvm-archive: $archive ($(du -m "$archive" | cut -f1) MiB, $((SECONDS - started)) s)"
