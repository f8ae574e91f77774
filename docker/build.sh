#!/usr/bin/env bash
# Prepare what the tradelake image adds to apache/spark, in one folder:
#
#   docker/build.sh STAGE [--venv DIR]
#
#   STAGE/jars/  the pinned jars of lib/tradelake/jars.py (python -m tradelake.jars fetch,
#                SHA-1 checked), nothing else: the Dockerfile copies them to /opt/spark/jars
#   STAGE/dist/  the tradelake wheel, without dependencies (the image has PySpark)
#   STAGE/jobs/  the job scripts, for /opt/tradelake/jobs
#   STAGE/conf/  the settings profiles and log4j2.properties, for /opt/tradelake/conf
#   --venv DIR   also create a virtualenv at DIR and install the wheel with its
#                dependencies, at the versions of requirements/runtime.txt, into it (the
#                image's /opt/tradelake/venv)
#
# The Dockerfile's build stage runs it, and so does CI (tests/unit/test_k8s.py), so the
# image's build steps are tested without a Docker engine. PYTHON selects the interpreter
# (3.11+, default python3). Jars already in TRADELAKE_JARS_CACHE (default
# $TRADELAKE_JARS_DIR, else ./.jars) are reused; fetch verifies them like downloads.
set -euo pipefail

usage="usage: docker/build.sh STAGE [--venv DIR]"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
stage="${1:?$usage}"
shift
venv=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) venv="${2:?$usage}"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "docker/build.sh: $python is not Python 3.11+; set PYTHON" >&2
  exit 2
fi
mkdir -p "$stage"
stage="$(cd "$stage" && pwd)"
rm -rf "$stage/jars" "$stage/dist" "$stage/jobs" "$stage/conf"
mkdir -p "$stage/jars" "$stage/dist"

# Jars: exactly the project's list. jars.py needs only the standard library.
cache="${TRADELAKE_JARS_CACHE:-${TRADELAKE_JARS_DIR:-$repo/.jars}}"
coordinates="$(PYTHONPATH="$repo/lib" "$python" -m tradelake.jars coordinates)"
IFS=, read -r -a jars <<< "$coordinates"
for coordinate in "${jars[@]}"; do
  IFS=: read -r _ artifact version <<< "$coordinate"
  cached="$cache/$artifact-$version.jar"
  if [[ -f "$cached" ]]; then
    ln "$cached" "$stage/jars/" 2> /dev/null || cp "$cached" "$stage/jars/"
  fi
done
TRADELAKE_JARS_DIR="$stage/jars" PYTHONPATH="$repo/lib" "$python" -m tradelake.jars fetch > /dev/null

# The wheel, built from a clean copy: nothing is written into the source tree. With
# --venv, the virtualenv's own pip builds it (a distribution's python3.x may only see
# the pip of its default python3).
builder="$python"
if [[ -n "$venv" ]]; then
  "$python" -m venv "$venv"
  builder="$venv/bin/python"
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src/lib"
cp "$repo/pyproject.toml" "$repo/README.md" "$scratch/src/"
cp -R "$repo/lib/tradelake" "$scratch/src/lib/"
find "$scratch/src" -name __pycache__ -prune -exec rm -rf {} +
"$builder" -m pip wheel --quiet --disable-pip-version-check --no-deps \
  -w "$stage/dist" "$scratch/src"

mkdir -p "$stage/jobs" "$stage/conf"
cp "$repo"/jobs/*.py "$stage/jobs/"
cp "$repo"/conf/* "$stage/conf/"

if [[ -n "$venv" ]]; then
  # The same pins as every other install of the jobs (requirements/runtime.txt, made by
  # make lock with the tests' versions), so the image runs what CI tested.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --constraint "$repo/requirements/runtime.txt" "$stage"/dist/tradelake-*.whl
  # The settings and jar list import without Spark: the install is usable.
  "$venv/bin/python" -c 'import tradelake.config, tradelake.jars, tradelake.runtime'
fi
staged_jars=("$stage"/jars/*.jar)
staged_jobs=("$stage"/jobs/*.py)
wheel=("$stage"/dist/*.whl)
summary="${#staged_jars[@]} jars, ${wheel[0]##*/}, ${#staged_jobs[@]} jobs in $stage"
echo "docker/build.sh: $summary${venv:+, and a virtualenv in $venv}" >&2
