#!/usr/bin/env bash
# Submit a tradelake job: ./spark-submit.sh jobs/ingest.py --date 2025-01-15
#
# Adds the pinned Iceberg jars, ships the tradelake package as a zip (--py-files) and
# passes the `lake` catalog settings computed from configuration (conf/<env>.toml and
# TRADELAKE_* variables). Spark settings can be added with SPARK_SUBMIT_OPTS_EXTRA.
#
# The driver's and executors' JVM options come from a profile, TRADELAKE_JVM_PROFILE:
#   production  (the default) the JVM's defaults plus the JIT option TRADELAKE_JIT_OPTS
#               (default -XX:-DontCompileHugeMethods; below).
#   tiny        for jobs of a few hundred rows (the test tiers, the benchmark smoke):
#               -XX:TieredStopAtLevel=1 -XX:+UseSerialGC and no JIT option unless
#               TRADELAKE_JIT_OPTS gives one. C1 alone compiles what a tiny job runs in a
#               fraction of the CPU C2 takes and the serial collector starts no GC
#               threads (on 2 cores, with 2 shuffle partitions: a 500-trade ingest
#               38 s -> 26 s wall, 65 s -> 28 s CPU); a tiny job never runs a huge
#               generated method long enough to gain from compiling it (the same ingest
#               24.7-27.5 s CPU without the JIT option, 26.2-28.6 s with; the CI run with
#               it in every test job 1,843 s instead of 1,655 s). Same behaviour, less
#               CPU; never for real data.
# SPARK_JAVA_OPTS_EXTRA adds JVM options to either.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${TRADELAKE_VENV:-$here/.venv}"
python="$venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "spark-submit.sh: no virtualenv at $venv; run 'make setup' first" >&2
  exit 2
fi
if [[ $# -lt 1 ]]; then
  echo "usage: ./spark-submit.sh jobs/<job>.py [--date YYYY-MM-DD] [job flags]" >&2
  exit 2
fi

export TRADELAKE_JARS_DIR="${TRADELAKE_JARS_DIR:-$here/.jars}"
export TRADELAKE_CONF_DIR="${TRADELAKE_CONF_DIR:-$here/conf}"
export PYSPARK_PYTHON="$python" PYSPARK_DRIVER_PYTHON="$python"
# Local mode binds to loopback only.
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

jars="$("$python" -m tradelake.jars paths)"
mkdir -p "$here/build"
# One zip per content (named by its hash), written once and renamed into place: a job
# still importing from an older zip never sees it replaced under it.
py_files="$("$python" - "$here/lib" "$here/build" <<'PY'
import hashlib, os, sys, tempfile, time, zipfile
from pathlib import Path
lib, build = Path(sys.argv[1]), Path(sys.argv[2])
sources = sorted(
    p for p in (lib / "tradelake").rglob("*") if p.is_file() and "__pycache__" not in p.parts
)
digest = hashlib.sha256()
for path in sources:
    digest.update(path.relative_to(lib).as_posix().encode() + b"\0" + path.read_bytes())
target = build / f"tradelake-{digest.hexdigest()[:16]}.zip"
if not target.is_file():
    fd, staging = tempfile.mkstemp(dir=build, prefix=".tradelake-", suffix=".zip")
    os.close(fd)
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sources:
            archive.write(path, path.relative_to(lib).as_posix())
    os.replace(staging, target)
# Zips of older code, unused for a day, go.
for old in build.glob("tradelake-*.zip"):
    if old != target and time.time() - old.stat().st_mtime > 86400:
        old.unlink(missing_ok=True)
os.utime(target)
print(target)
PY
)"
# A command substitution (unlike <(...)) stops the script on a configuration error.
catalog_conf_lines="$("$python" -m tradelake.session spark-conf)"
mapfile -t catalog_conf <<< "$catalog_conf_lines"

jvm_profile="${TRADELAKE_JVM_PROFILE:-production}"
case "$jvm_profile" in
  production)
    profile_opts=""
    # The JIT may compile the large methods Spark generates for the contract's stages
    # (exact amounts, rules) instead of leaving them to the interpreter: validating a
    # 1M-trade day takes 19 s -> 6 s of CPU (docs/benchmarks.md). TRADELAKE_JIT_OPTS=
    # (empty) turns it off.
    jit_opts="${TRADELAKE_JIT_OPTS--XX:-DontCompileHugeMethods}"
    ;;
  tiny)
    profile_opts="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    jit_opts="${TRADELAKE_JIT_OPTS-}"
    ;;
  *)
    echo "spark-submit.sh: TRADELAKE_JVM_PROFILE=$jvm_profile is not a JVM profile;" \
      "use production (the default) or tiny" >&2
    exit 2
    ;;
esac
# Spaces left by an empty part are harmless: the JVM splits its options on whitespace.
java_opts="$profile_opts $jit_opts ${SPARK_JAVA_OPTS_EXTRA:-}"
executor_conf=()
if [[ -n "${java_opts// /}" ]]; then
  executor_conf=(--conf "spark.executor.extraJavaOptions=$java_opts")
fi

# The driver maps the class-data archive scripts/jvm-archive.sh made (Spark's classes
# parsed and verified once: ~5 s less CPU per start), when there is one. Set
# TRADELAKE_JVM_ARCHIVE to another file, or to nothing to start without. The driver
# only: executors elsewhere have other class paths, and a JVM ignores an archive that
# does not match its own.
archive="${TRADELAKE_JVM_ARCHIVE-$here/build/jvm/spark.jsa}"
driver_java_opts="$java_opts"
if [[ -n "$archive" && -f "$archive" ]]; then
  driver_java_opts="$driver_java_opts -XX:SharedArchiveFile=$archive"
fi

# shellcheck disable=SC2086 # SPARK_SUBMIT_OPTS_EXTRA is a list of flags on purpose
exec "$venv/bin/spark-submit" \
  --master "${SPARK_MASTER:-local[*]}" \
  --driver-memory "${SPARK_DRIVER_MEMORY:-2g}" \
  --jars "$jars" \
  --py-files "$py_files" \
  --conf "spark.driver.extraJavaOptions=-Dlog4j2.configurationFile=file:$TRADELAKE_CONF_DIR/log4j2.properties $driver_java_opts" \
  "${executor_conf[@]}" \
  --conf "spark.ui.showConsoleProgress=false" \
  "${catalog_conf[@]}" \
  ${SPARK_SUBMIT_OPTS_EXTRA:-} \
  "$@"
