"""The Airflow tier (make test-airflow): runs in .venv-airflow, never in the jobs' venv.

Airflow reads its configuration when first imported, so the session's Airflow home (a
temporary folder with a SQLite metadata database) and the DAG folder are set in
``pytest_configure``, before any test module imports it. In an environment without
Airflow (the jobs' venv, ``make test``) nothing here is collected.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.lakes import REPO

HAVE_AIRFLOW = importlib.util.find_spec("airflow") is not None
collect_ignore_glob = [] if HAVE_AIRFLOW else ["test_*.py"]

DAG_FILE = REPO / "dags" / "tradelake_daily.py"
_modules = itertools.count(1)
_home: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _home
    if not HAVE_AIRFLOW:
        return
    # Airflow and its providers warn about their own deprecations; those are not ours.
    for line in (
        "ignore::DeprecationWarning",
        "ignore::PendingDeprecationWarning",
        "ignore::FutureWarning",
        "ignore::UserWarning",
        "ignore::RuntimeWarning",
    ):
        config.addinivalue_line("filterwarnings", line)
    _home = Path(tempfile.mkdtemp(prefix="tradelake-airflow-home-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The local landing folder's sensor reads paths through this connection.
            "AIRFLOW_CONN_FS_DEFAULT": '{"conn_type": "fs"}',
            # The OpenLineage provider is on for the whole session (a provider without a
            # transport registers no macros): its task events go to a file.
            "AIRFLOW__OPENLINEAGE__TRANSPORT": (
                '{"type": "file", "append": true, "log_file_path": "'
                + str(_home / "openlineage-airflow.jsonl")
                + '"}'
            ),
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if _home is not None:
        shutil.rmtree(_home, ignore_errors=True)


@pytest.fixture
def load_dag(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Import dags/tradelake_daily.py afresh with ``TRADELAKE_AIRFLOW_*`` set to ``settings``.

    Every ``TRADELAKE_AIRFLOW_*`` variable not given is unset, so a test sees only its own.
    """

    def load(**settings: str) -> ModuleType:
        for name in list(os.environ):
            if name.startswith("TRADELAKE_AIRFLOW_"):
                monkeypatch.delenv(name)
        for name, value in settings.items():
            monkeypatch.setenv(f"TRADELAKE_AIRFLOW_{name.upper()}", value)
        spec = importlib.util.spec_from_file_location(f"tradelake_daily_{next(_modules)}", DAG_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def rendered_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``kustomize build k8s/overlays/dev/jobs``: the manifests the kubernetes runner reads."""
    from tests.unit import k8s_manifests as km

    try:
        docs = km.render(REPO / "k8s" / "overlays" / "dev" / "jobs")
    except km.KustomizeUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must render the overlays: {err}")
        pytest.skip(f"cannot render the overlays: {err}")
    import yaml

    path = tmp_path_factory.mktemp("k8s") / "tradelake-jobs.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    yield path
