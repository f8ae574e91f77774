"""The Athena client and the moto server it is tested against speak the same protocol.

A botocore 1.44 release (1.44.18 does; 1.44.13 did not) moved Athena from the ``json``
protocol (every call a POST to ``/`` with an ``X-Amz-Target`` header) to ``rest-json`` (a
path per operation). Real Athena takes both, so the jobs may use either botocore
(docs/aws.md); moto's server (5.1.22 to 5.2.6 at least) routes only ``/`` for Athena, so
with the newer client every Athena test gets ``404 Not Found``. pyproject's dev extra
keeps ``botocore<1.44`` for that reason: this test says so by name the day the pin moves,
instead of nine Athena tests failing on a 404.
"""

from __future__ import annotations

import re

import botocore
import botocore.session
import moto
from moto.athena import urls as moto_athena_urls


def athena_protocol() -> str:
    """The protocol this botocore sends Athena calls in (its choice among the model's)."""
    return str(botocore.session.get_session().get_service_model("athena").protocol)


def moto_routes_only_the_root() -> bool:
    """Whether moto's server routes Athena at ``/`` alone, as the ``json`` protocol needs."""
    return all(re.fullmatch(r"\{0\}/\$?", path) for path in moto_athena_urls.url_paths)


def test_botocore_speaks_athena_in_a_protocol_the_moto_server_routes() -> None:
    protocol = athena_protocol()
    assert protocol == "json" or not moto_routes_only_the_root(), (
        f"botocore {botocore.__version__} sends Athena calls as {protocol!r} (a botocore 1.44 "
        f"release moved Athena from 'json' to 'rest-json'), but moto {moto.__version__}'s server "
        "routes Athena only at '/', the 'json' protocol: the Athena tests would get 404 Not "
        "Found on StartQueryExecution and CreateWorkGroup. Keep boto3/botocore<1.44 in "
        "pyproject.toml's dev extra (then make lock) until moto routes rest-json; production "
        "may use either version (docs/aws.md)."
    )
