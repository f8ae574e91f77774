#!/usr/bin/env bash
# Run one job through spark-submit.sh, keep its log and summary under lake/, print the
# summary for people, and exit with the job's exit code.
#   scripts/run-and-report.sh ingest 2025-01-15 [job flags]
set -uo pipefail
job="$1" day="$2"
shift 2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$here/lake/runs"
log="$here/lake/runs/$job-$day.log"
"$here/spark-submit.sh" "$here/jobs/$job.py" --date "$day" "$@" > "$log"
status=$?
tail -n 1 "$log" > "$here/lake/runs/$job-$day.json"
echo
"$here/.venv/bin/python" -m tradelake.report summary "$here/lake/runs/$job-$day.json" \
  || echo "(no summary: see $log)"
exit "$status"
