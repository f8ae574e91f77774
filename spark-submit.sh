#!/usr/bin/env bash
# Submit a tradelake job: ./spark-submit.sh jobs/ingest.py --date 2025-01-15
#
# Adds the pinned Iceberg jars, ships the tradelake package as a zip (--py-files) and
# passes the `lake` catalog settings computed from configuration (conf/<env>.toml and
# TRADELAKE_* variables). Spark settings can be added with SPARK_SUBMIT_OPTS_EXTRA.
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
# Built next to the target and renamed into place (only when it changed): a job
# submitted at the same moment keeps reading a complete zip.
"$python" - "$here/lib" "$here/build/tradelake.zip" <<'PY'
import os, sys, tempfile, zipfile
from pathlib import Path
lib, target = Path(sys.argv[1]), Path(sys.argv[2])
fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".tradelake-", suffix=".zip")
os.close(fd)
with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
    for path in sorted((lib / "tradelake").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            archive.write(path, path.relative_to(lib).as_posix())
if target.is_file() and target.read_bytes() == Path(staging).read_bytes():
    os.unlink(staging)
else:
    os.replace(staging, target)
PY
# A command substitution (unlike <(...)) stops the script on a configuration error.
catalog_conf_lines="$("$python" -m tradelake.session spark-conf)"
mapfile -t catalog_conf <<< "$catalog_conf_lines"

# shellcheck disable=SC2086 # SPARK_SUBMIT_OPTS_EXTRA is a list of flags on purpose
exec "$venv/bin/spark-submit" \
  --master "${SPARK_MASTER:-local[*]}" \
  --driver-memory "${SPARK_DRIVER_MEMORY:-4g}" \
  --jars "$jars" \
  --py-files "$here/build/tradelake.zip" \
  --conf "spark.driver.extraJavaOptions=-Dlog4j2.configurationFile=file:$TRADELAKE_CONF_DIR/log4j2.properties" \
  --conf "spark.ui.showConsoleProgress=false" \
  "${catalog_conf[@]}" \
  ${SPARK_SUBMIT_OPTS_EXTRA:-} \
  "$@"
