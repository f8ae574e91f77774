"""The reliability tier: jobs run as separate processes on a lake of their own.

Every test here gets a fresh embedded lake (JDBC/SQLite catalog + warehouse + raw root
in a temporary folder: ``ProcessLake``, tests/submit.py) and runs jobs the documented way,
``./spark-submit.sh``, so a process can be killed, run concurrently or pointed at a
standalone cluster. Tables are read back with pyiceberg, independently of Spark, and
compared with the one equality policy of tests/lakes.py (rows as multisets).

How much of it runs is a profile (``TRADELAKE_RELIABILITY_PROFILE``): ``full`` (the
default, what ``make test-reliability`` runs) or ``ci`` (every kind of check, with fewer
kill trials and fuzz examples, so CI stays within its time budget; the resource-bound
day keeps its size in both: it must be larger than the memory bound to prove anything).
``TRADELAKE_RELIABILITY_SCALE=N`` multiplies the profile's counts
(tests/reliability/profiles.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.submit import ProcessLake

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder belongs to the reliability tier (make test-reliability)."""
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def process_lake(tmp_path: Path) -> Iterator[ProcessLake]:
    """A fresh embedded lake for jobs run as separate processes."""
    lake = ProcessLake(tmp_path / "lake")
    lake.raw_root.mkdir(parents=True)
    yield lake
