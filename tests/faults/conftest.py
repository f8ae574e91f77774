"""The fault tier (make test-faults): the real jobs against moto through fault-injecting proxies.

The jobs' S3 and Glue endpoint is a Toxiproxy proxy (TCP faults: latency, resets, stalls,
cut responses), whose upstream is ``FaultProxy`` (HTTP faults: S3 SlowDown and
InternalError, Glue throttling, commit responses dropped after moto applied them), whose
upstream is the session's moto server:

    job ──► toxiproxy (TCP faults) ──► FaultProxy (HTTP faults) ──► moto

Both proxies run for the whole session with no fault; each test turns on the faults it
needs and the ``faults`` fixture clears them afterwards. Tables are read back directly
from moto (pyiceberg's Glue catalog), never through the proxies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import toxiproxy
from tests.faults.http_faults import FaultProxy
from tests.faults.jobs import TALLY, FaultyAws
from tests.lakes import FakeAws


@pytest.fixture(scope="session")
def toxiproxy_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[toxiproxy.Toxiproxy]:
    log = tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log"
    with toxiproxy.Toxiproxy(toxiproxy.binary(), log) as server:
        yield server


@pytest.fixture(scope="session")
def faulty_aws(
    fake_aws: FakeAws,
    toxiproxy_process: toxiproxy.Toxiproxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FaultyAws]:
    """moto behind both proxies, with the messy day landed in the raw bucket."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    with FaultProxy(fake_aws.endpoint) as http_faults:
        tcp = toxiproxy_process.create_proxy("aws", http_faults.endpoint.removeprefix("http://"))
        aws = FaultyAws(fake_aws, http_faults, toxiproxy_process, tcp)
        aws.land_messy_day(Path(tmp_path_factory.mktemp("raw")))
        yield aws
        toxiproxy_process.delete_proxy(tcp.name)
    assert http_faults.errors() == [], "the fault proxy itself failed"


@pytest.fixture
def faults(faulty_aws: FaultyAws) -> Iterator[FaultyAws]:
    """The proxies with no fault on; whatever a test turns on is cleared after it."""
    faulty_aws.clear()
    yield faulty_aws
    faulty_aws.clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the tier did: job runs, faults injected per kind, tables compared."""
    if TALLY:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(TALLY.items()))
        terminalreporter.write_line(f"fault tier: {counts}")
