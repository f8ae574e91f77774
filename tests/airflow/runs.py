"""What a finished DAG run left behind: its task states and the provider's lineage events
(plain helpers of the Airflow tier; the session's Airflow home is set up in conftest.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id: state}`` of a finished run, as Airflow recorded it."""
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def provider_events() -> list[dict[str, Any]]:
    """The events the Airflow OpenLineage provider wrote for the tasks (its file transport,
    in the session's AIRFLOW_HOME: tests/airflow/conftest.py)."""
    path = Path(os.environ["AIRFLOW_HOME"]) / "openlineage-airflow.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
