"""The Airflow tier runs on exactly requirements/airflow.txt (Makefile, make lock)."""

from __future__ import annotations

import pytest

from tests.locks import REPO, drift, lock_path

pytestmark = pytest.mark.airflow


def test_this_virtualenv_is_exactly_the_airflow_lock() -> None:
    lock = lock_path("TRADELAKE_AIRFLOW_LOCK", "requirements/airflow.txt")
    problems = drift(lock)
    assert not problems, (
        f"this virtualenv is not {lock.relative_to(REPO)}; remove .venv-airflow and run "
        "make test-airflow (after make lock if pyproject.toml changed): " + "; ".join(problems)
    )
