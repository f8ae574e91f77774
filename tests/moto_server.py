"""The moto server every tier starts (``python -m tests.moto_server``): moto's own server,
plus the one Glue call the tests need that moto 5.2 does not implement, and Glue's
optimistic check on UpdateTable that moto 5.2 leaves out.

``BatchStopJobRun`` is what Airflow's GlueJobOperator sends when its task is killed
(``stop_job_run_on_kill``, tests/airflow/test_dag.py). The addition answers it the way moto
answers every call, as a response method over moto's own Glue backend, so the operator's
real request travels over HTTP and the stopped run is what a later ``GetJobRun`` returns.
It steps aside the day moto implements the call itself.

``UpdateTable`` with a ``VersionId`` that is not the table's current version is refused
with ``ConcurrentModificationException``, as Glue refuses it; moto applies it regardless.
Iceberg's Glue commits send the version they read, so without the check a commit whose
response was lost and that the SDK retried would land twice on moto where Glue refuses the
retry and Iceberg checks whether its first attempt landed (the fault tier, tests/faults).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.glue.exceptions import EntityNotFoundException, GlueClientError
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


class ConcurrentModificationException(GlueClientError):
    def __init__(self, message: str) -> None:
        super().__init__("ConcurrentModificationException", message)


_moto_update_table = GlueResponse.update_table


def _update_table_of_its_version(self: GlueResponse) -> ActionResult:
    version = self._get_param("VersionId")
    if version is not None:
        database = self._get_param("DatabaseName")
        name = str((self._get_param("TableInput") or {}).get("Name"))
        current = self.glue_backend.get_table(database, name).as_dict()["VersionId"]
        if str(version) != str(current):
            raise ConcurrentModificationException(
                f"Update table failed due to concurrent modifications: version {version} "
                f"of {database}.{name} is not its current version {current}"
            )
    return _moto_update_table(self)


GlueResponse.update_table = _update_table_of_its_version  # type: ignore[method-assign]

if not hasattr(GlueResponse, "batch_stop_job_run"):
    GlueResponse.batch_stop_job_run = _batch_stop_job_run  # type: ignore[attr-defined]

if __name__ == "__main__":
    main()
