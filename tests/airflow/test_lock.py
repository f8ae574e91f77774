"""The Airflow tier runs on exactly requirements/airflow.txt (Makefile, make lock)."""

from __future__ import annotations

import pytest

from tests.locks import assert_running_on_lock

pytestmark = pytest.mark.airflow


def test_this_virtualenv_is_exactly_the_airflow_lock() -> None:
    assert_running_on_lock(
        "TRADELAKE_AIRFLOW_LOCK",
        "requirements/airflow.txt",
        "remove .venv-airflow and run make test-airflow (after make lock if pyproject.toml "
        "changed)",
    )
