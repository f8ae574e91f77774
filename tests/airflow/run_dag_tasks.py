"""Run chosen tasks of the DAG with ``dag.test()``, as the Airflow tier does, from a tier
that runs in another virtualenv: ``.venv-airflow/bin/python -m tests.airflow.run_dag_tasks
--logical-date D --task T [--task T2 ...]``.

The Athena tier runs the DAG's ``dbt_build`` this way against its Trino (one Trino for the
Athena and dbt tiers): the DAG is read with the caller's ``TRADELAKE_AIRFLOW_*`` settings,
cut down to the given tasks (their upstream tasks are not run), and tested in a fresh
Airflow home with a SQLite metadata database. The last line printed is the run as JSON:
``{"dag_run": state, "tasks": {task: state}, "tries": {task: try_number}}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.lakes import REPO

DAG_FILE = REPO / "dags" / "tradelake_daily.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logical-date", required=True, help="the run's date, YYYY-MM-DD")
    parser.add_argument("--task", action="append", required=True, help="a task id to run")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tradelake-airflow-home-"))
    try:
        # Airflow reads its configuration when first imported: set it before that.
        os.environ.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            }
        )
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        from tests.airflow.runs import task_states

        spec = importlib.util.spec_from_file_location("tradelake_daily", DAG_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = module.dag.partial_subset(task_ids=args.task, include_upstream=False)
        logical = datetime.fromisoformat(args.logical_date).replace(tzinfo=UTC)
        dag_run = dag.test(logical_date=logical)
        tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
        print(
            json.dumps(
                {"dag_run": str(dag_run.state), "tasks": task_states(dag_run), "tries": tries}
            ),
            flush=True,
        )
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
