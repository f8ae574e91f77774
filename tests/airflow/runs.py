"""What a finished DAG run left behind: its task states and the provider's lineage events
(plain helpers of the Airflow tier; the session's Airflow home is set up in conftest.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task: state}`` of a finished run, as Airflow recorded it.

    A task is its task_id; an instance of a mapped task (the gold tasks, one per gold date)
    is ``task_id[name]``, its name in the UI (``daily_volume[2025-01-15]``: the rendered
    map_index_template, else the map index). A mapped task that never expanded (its
    upstream failed) has one instance, named by its task_id alone.
    """
    states = {}
    for ti in dag_run.get_task_instances():
        name = ti.task_id
        if ti.map_index >= 0:
            name = f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"
        states[name] = str(ti.state)
    return states


def provider_events() -> list[dict[str, Any]]:
    """The events the Airflow OpenLineage provider wrote for the tasks (its file transport,
    in the session's AIRFLOW_HOME: tests/airflow/conftest.py)."""
    path = Path(os.environ["AIRFLOW_HOME"]) / "openlineage-airflow.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
