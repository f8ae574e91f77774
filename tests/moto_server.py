"""The moto server every tier starts (``python -m tests.moto_server``): moto's own server,
plus the one Glue call the tests need that moto 5.2 does not implement.

``BatchStopJobRun`` is what Airflow's GlueJobOperator sends when its task is killed
(``stop_job_run_on_kill``, tests/airflow/test_dag.py). The addition answers it the way moto
answers every call, as a response method over moto's own Glue backend, so the operator's
real request travels over HTTP and the stopped run is what a later ``GetJobRun`` returns.
It steps aside the day moto implements the call itself.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.core.responses import ActionResult
from moto.glue.exceptions import EntityNotFoundException
from moto.glue.responses import GlueResponse
from moto.server import main

# The states of a Glue job run that a stop applies to (Glue's own JobRunState values).
_STOPPABLE = ("STARTING", "RUNNING", "STOPPING", "WAITING")


def _batch_stop_job_run(self: GlueResponse) -> ActionResult:
    job_name = self._get_param("JobName")
    stopped: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for run_id in self._get_param("JobRunIds") or []:
        try:
            run = self.glue_backend.get_job_run(job_name, run_id)
        except EntityNotFoundException as err:
            errors.append(_stop_error(job_name, run_id, "EntityNotFoundException", str(err)))
            continue
        if run.status not in _STOPPABLE:
            message = f"Job run {run_id} is {run.status}, not running"
            errors.append(_stop_error(job_name, run_id, "InvalidInputException", message))
            continue
        run.status = "STOPPED"
        stopped.append({"JobName": job_name, "JobRunId": run_id})
    return ActionResult({"SuccessfulSubmissions": stopped, "Errors": errors})


def _stop_error(job_name: str, run_id: str, code: str, message: str) -> dict[str, Any]:
    detail = {"ErrorCode": code, "ErrorMessage": message}
    return {"JobName": job_name, "JobRunId": run_id, "ErrorDetail": detail}


if not hasattr(GlueResponse, "batch_stop_job_run"):
    GlueResponse.batch_stop_job_run = _batch_stop_job_run  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(main())
