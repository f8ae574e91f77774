"""The fault tier's proxies work, for real: boto3 against moto through each of them.

The HTTP fault proxy (tests/faults/http_faults.py) answers chosen S3 and Glue calls with
S3's and Glue's own errors, resets connections, or lets a call land and loses its answer;
boto3's standard retries must see each as the real service's and recover exactly as
counted. The toxiproxy server (tests/faults/toxiproxy.py) slows and resets the TCP links to
moto, and lets go of them when its toxic is removed.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import toxiproxy
from tests.faults.http_faults import Fault, FaultProxy, Rule, classify
from tests.lakes import FakeAws

pytestmark = pytest.mark.faults

_names = itertools.count(1)


def _name(prefix: str) -> str:
    """A bucket, database or table name of its own: the moto server is the session's."""
    return f"{prefix}-faults-{next(_names)}"


def _client(service: str, endpoint: str, attempts: int, region: str = "us-east-1") -> Any:
    """A boto3 client with standard retries and ``attempts`` tries per call (1: no retry)."""
    import boto3
    from botocore.config import Config

    config = Config(
        # total_max_attempts counts the first try; botocore's max_attempts, despite its
        # name, counts retries (max_attempts=1 is two tries).
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=5,
        read_timeout=10,
        # Path-style, as S3FileIO and s3a are configured against moto.
        s3={"addressing_style": "path"},
    )
    return boto3.client(service, endpoint_url=endpoint, region_name=region, config=config)


@pytest.fixture
def fault_proxy(aws_env: FakeAws) -> Iterator[FaultProxy]:
    with FaultProxy(aws_env.endpoint) as proxy:
        yield proxy
    # Whatever a test provoked, the proxy itself never failed.
    assert proxy.errors() == []


@pytest.fixture(scope="module")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[toxiproxy.Toxiproxy]:
    log = tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log"
    with toxiproxy.Toxiproxy(toxiproxy.binary(), log) as server:
        yield server


@pytest.fixture
def moto_through_toxiproxy(
    toxiproxy_server: toxiproxy.Toxiproxy, aws_env: FakeAws
) -> Iterator[toxiproxy.Proxy]:
    upstream = aws_env.endpoint.removeprefix("http://")
    proxy = toxiproxy_server.create_proxy(_name("moto"), upstream)
    yield proxy
    toxiproxy_server.delete_proxy(proxy.name)


# -- classification ----------------------------------------------------------------------

_SCOPE = "AWS4-HMAC-SHA256 Credential=AKID/20250115/us-east-1/{}/aws4_request"
_SIGNED_S3 = {"Authorization": _SCOPE.format("s3")}


@pytest.mark.parametrize(
    ("method", "target", "headers", "expected"),
    [
        ("POST", "/", {"X-Amz-Target": "AWSGlue.GetTable"}, ("glue", "GetTable", "")),
        ("PUT", "/lake/a/b.parquet", _SIGNED_S3, ("s3", "PutObject", "object")),
        ("PUT", "/lake/k?partNumber=2&uploadId=x", {}, ("s3", "UploadPart", "object")),
        ("POST", "/lake/k?uploads", {}, ("s3", "CreateMultipartUpload", "object")),
        ("POST", "/lake/k?uploadId=x", {}, ("s3", "CompleteMultipartUpload", "object")),
        ("DELETE", "/lake/k?uploadId=x", {}, ("s3", "AbortMultipartUpload", "object")),
        ("PUT", "/lake/k", {"x-amz-copy-source": "lake/j"}, ("s3", "CopyObject", "object")),
        ("HEAD", "/lake/k", {}, ("s3", "HeadObject", "object")),
        ("GET", "/lake?list-type=2&prefix=a", {}, ("s3", "ListObjectsV2", "bucket")),
        ("PUT", "/lake", {}, ("s3", "CreateBucket", "bucket")),
        ("POST", "/lake?delete", {}, ("s3", "DeleteObjects", "bucket")),
        ("GET", "/lake?acl", {}, ("s3", "GET bucket?acl", "bucket")),
        ("GET", "/", {}, ("s3", "ListBuckets", "service")),
        # The credential scope names the service when a JSON target is not Glue's.
        (
            "POST",
            "/",
            {
                "X-Amz-Target": "AmazonAthena.StartQueryExecution",
                "Authorization": _SCOPE.format("athena") + ", SignedHeaders=host, Signature=0",
            },
            ("athena", "StartQueryExecution", ""),
        ),
    ],
)
def test_requests_are_classified_by_service_and_operation(
    method: str, target: str, headers: dict[str, str], expected: tuple[str, str, str]
) -> None:
    call = classify(method, target, headers)
    assert (call.service, call.operation, call.resource) == expected


def test_a_rule_needs_one_schedule_and_a_fault_its_service_can_parse() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        Rule(Fault.SLOW_DOWN, "s3", every=2, first=1)
    with pytest.raises(ValueError, match="use service='glue'"):
        Rule.first_k(1, Fault.THROTTLING, "s3")


# -- the HTTP fault proxy ----------------------------------------------------------------


def test_s3_puts_survive_slow_down_on_every_third_put(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    direct = _client("s3", aws_env.endpoint, attempts=1)
    bucket = _name("bucket")
    direct.create_bucket(Bucket=bucket)
    fault_proxy.set_rules([Rule.every_nth(3, Fault.SLOW_DOWN, "s3", operation="PutObject")])
    s3 = _client("s3", fault_proxy.endpoint, attempts=3)
    objects = {f"day/{number}.json": f'{{"n": {number}}}'.encode() for number in range(5)}

    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    # PUTs 1, 2, [3], 4 (3's retry), 5, [6], 7 (6's retry): two faults, five forwarded.
    assert fault_proxy.injected(Fault.SLOW_DOWN, "PutObject") == 2
    assert fault_proxy.injected() == 2
    assert fault_proxy.forwarded("PutObject") == 5
    listed = direct.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(objects)
    for key, body in objects.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_s3_error_bodies_are_what_boto3_parses_as_s3s(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    from botocore.exceptions import ClientError

    bucket = _name("bucket")
    _client("s3", aws_env.endpoint, attempts=1).create_bucket(Bucket=bucket)
    s3 = _client("s3", fault_proxy.endpoint, attempts=1)
    fault_proxy.set_rules(
        [
            Rule.first_k(1, Fault.SLOW_DOWN, "s3", operation="PutObject"),
            Rule.first_k(1, Fault.INTERNAL_ERROR, "s3", method="GET", resource="object"),
            Rule.first_k(1, Fault.SLOW_DOWN, "s3", operation="HeadObject"),
        ]
    )

    with pytest.raises(ClientError) as slow_down:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with pytest.raises(ClientError) as internal_error:
        s3.get_object(Bucket=bucket, Key="k")
    # A HEAD error has no body: boto3 knows it by its status alone.
    with pytest.raises(ClientError) as head_error:
        s3.head_object(Bucket=bucket, Key="k")

    assert slow_down.value.response["Error"]["Code"] == "SlowDown"
    assert slow_down.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert internal_error.value.response["Error"]["Code"] == "InternalError"
    assert internal_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert head_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert fault_proxy.injected_by_kind() == {Fault.SLOW_DOWN: 2, Fault.INTERNAL_ERROR: 1}


def test_a_multipart_upload_survives_slow_down_on_every_second_part(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    from boto3.s3.transfer import TransferConfig

    bucket = _name("bucket")
    _client("s3", aws_env.endpoint, attempts=1).create_bucket(Bucket=bucket)
    fault_proxy.set_rules([Rule.every_nth(2, Fault.SLOW_DOWN, "s3", operation="UploadPart")])
    s3 = _client("s3", fault_proxy.endpoint, attempts=5)
    # 12 MiB in parts of 5 MiB: three parts, each a file-like body sent after
    # "Expect: 100-continue".
    data = hashlib.sha256(b"seed").digest() * (12 * 1024 * 1024 // 32)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024**2)

    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin", Config=config)

    # Part attempts succeed at the 1st, 3rd and 5th UploadPart: the 2nd and 4th fail.
    assert fault_proxy.injected(Fault.SLOW_DOWN, "UploadPart") == 2
    assert fault_proxy.forwarded("UploadPart") == 3
    assert fault_proxy.forwarded("CreateMultipartUpload") == 1
    assert fault_proxy.forwarded("CompleteMultipartUpload") == 1
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


def test_a_chunked_aws_chunked_upload_is_forwarded_with_its_framing(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    """What the SDKs send over TLS (botocore) or for unknown lengths (SDK v2): an aws-chunked
    body with a trailing checksum, in HTTP chunks; two on one keep-alive connection."""
    bucket = _name("bucket")
    direct = _client("s3", aws_env.endpoint, attempts=1)
    direct.create_bucket(Bucket=bucket)
    port = int(fault_proxy.endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    payloads = {"one.bin": b"a" * 70_000 + b"end", "two.bin": b"second object"}

    for key, payload in payloads.items():
        encoded = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n" % (
            len(payload),
            payload,
        )
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": str(len(payload)),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "Transfer-Encoding": "chunked",
        }
        # HTTP chunks of 8 KiB around the aws-chunked stream (werkzeug, moto's server,
        # takes no HTTP trailers: the checksum trailer is aws-chunked's, inside the body).
        pieces = (encoded[at : at + 8192] for at in range(0, len(encoded), 8192))
        connection.request(
            "PUT", f"/{bucket}/{key}", body=pieces, headers=headers, encode_chunked=True
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    connection.close()

    for key, payload in payloads.items():
        assert direct.get_object(Bucket=bucket, Key=key)["Body"].read() == payload
    puts = [call for call in fault_proxy.calls() if call.operation == "PutObject"]
    assert [(call.framing, call.content_encoding) for call in puts] == [
        ("chunked", "aws-chunked"),
        ("chunked", "aws-chunked"),
    ]


def _glue_table(aws_env: FakeAws) -> tuple[Any, str, str]:
    """A Glue client straight to moto, and a new database with one table in it."""
    database, table = _name("db"), _name("trades")
    direct = _client("glue", aws_env.endpoint, attempts=1)
    direct.create_database(DatabaseInput={"Name": database})
    direct.create_table(DatabaseName=database, TableInput={"Name": table})
    return direct, database, table


def test_glue_throttling_on_the_first_two_get_tables_is_retried(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    from botocore.exceptions import ClientError

    direct, database, table = _glue_table(aws_env)
    fault_proxy.set_rules([Rule.first_k(2, Fault.THROTTLING, "glue", operation="GetTable")])

    got = _client("glue", fault_proxy.endpoint, attempts=3).get_table(
        DatabaseName=database, Name=table
    )

    assert got["Table"]["Name"] == table
    assert fault_proxy.injected(Fault.THROTTLING, "GetTable") == 2
    assert fault_proxy.forwarded("GetTable") == 1
    # With one retry too few, the call fails with Glue's own error.
    fault_proxy.set_rules([Rule.first_k(2, Fault.THROTTLING, "glue", operation="GetTable")])
    with pytest.raises(ClientError) as throttled:
        _client("glue", fault_proxy.endpoint, attempts=2).get_table(
            DatabaseName=database, Name=table
        )
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["Error"]["Message"] == "Rate exceeded"


def test_a_dropped_create_table_response_lands_once_and_its_retry_finds_it(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    database, table = _name("db"), _name("trades")
    direct = _client("glue", aws_env.endpoint, attempts=1)
    direct.create_database(DatabaseInput={"Name": database})
    fault_proxy.set_rules(
        [Rule.first_k(1, Fault.FORWARD_THEN_DROP, "glue", operation="CreateTable")]
    )
    glue = _client("glue", fault_proxy.endpoint, attempts=3)

    # The first CreateTable landed but its answer was lost; boto3's retry finds the table.
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        glue.create_table(DatabaseName=database, TableInput={"Name": table})

    assert fault_proxy.injected(Fault.FORWARD_THEN_DROP, "CreateTable") == 1
    assert fault_proxy.forwarded("CreateTable") == 2
    assert [t["Name"] for t in direct.get_tables(DatabaseName=database)["TableList"]] == [table]
    versions = direct.get_table_versions(DatabaseName=database, TableName=table)
    assert len(versions["TableVersions"]) == 1


def test_a_dropped_update_table_response_is_an_error_for_a_change_that_landed(
    fault_proxy: FaultProxy, aws_env: FakeAws
) -> None:
    from botocore.exceptions import ConnectionClosedError

    direct, database, table = _glue_table(aws_env)
    fault_proxy.set_rules(
        [Rule.first_k(1, Fault.FORWARD_THEN_DROP, "glue", operation="UpdateTable")]
    )
    update = {"Name": table, "Parameters": {"metadata_location": "s3://lake/v2.metadata.json"}}

    with pytest.raises(ConnectionClosedError):
        _client("glue", fault_proxy.endpoint, attempts=1).update_table(
            DatabaseName=database, TableInput=update
        )

    stored = direct.get_table(DatabaseName=database, Name=table)["Table"]
    assert stored["Parameters"] == update["Parameters"]
    versions = direct.get_table_versions(DatabaseName=database, TableName=table)
    assert len(versions["TableVersions"]) == 2
    assert fault_proxy.forwarded("UpdateTable") == 1


def test_a_seeded_fraction_fails_the_same_requests_every_run(aws_env: FakeAws) -> None:
    from botocore.exceptions import ConnectionClosedError

    def failed_calls(seed: int) -> list[int]:
        rule = Rule.random_fraction(0.5, Fault.RESET, "s3", seed=seed, operation="ListBuckets")
        with FaultProxy(aws_env.endpoint, [rule]) as proxy:
            s3 = _client("s3", proxy.endpoint, attempts=1)
            failed = []
            for number in range(12):
                try:
                    s3.list_buckets()
                except ConnectionClosedError:
                    failed.append(number)
            assert proxy.injected(Fault.RESET) == len(failed)
            assert proxy.forwarded("ListBuckets") == 12 - len(failed)
            assert proxy.errors() == []
        return failed

    first = failed_calls(seed=7)
    assert 0 < len(first) < 12
    assert failed_calls(seed=7) == first
    assert failed_calls(seed=8) != first


# -- toxiproxy ---------------------------------------------------------------------------


def _seconds(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_a_latency_toxic_slows_calls_until_it_is_removed(
    toxiproxy_server: toxiproxy.Toxiproxy, moto_through_toxiproxy: toxiproxy.Proxy
) -> None:
    s3 = _client("s3", moto_through_toxiproxy.endpoint, attempts=1)
    s3.list_buckets()  # connect once, so no call below pays for it
    before = min(_seconds(s3.list_buckets) for _ in range(3))

    spec = toxiproxy.latency(400, jitter_ms=50)
    with toxiproxy_server.toxic(moto_through_toxiproxy.name, spec) as created:
        slowed = _seconds(s3.list_buckets)
        assert created["attributes"] == {"latency": 400, "jitter": 50}
        assert [t["name"] for t in toxiproxy_server.toxics(moto_through_toxiproxy.name)] == [
            "latency_downstream"
        ]
    after = _seconds(s3.list_buckets)

    assert before < 0.2
    assert slowed >= 0.35
    assert after < 0.2
    assert toxiproxy_server.toxics(moto_through_toxiproxy.name) == []


def test_a_reset_peer_toxic_fails_a_call_without_retries_until_it_is_removed(
    toxiproxy_server: toxiproxy.Toxiproxy, moto_through_toxiproxy: toxiproxy.Proxy
) -> None:
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    glue = _client("glue", moto_through_toxiproxy.endpoint, attempts=1)
    glue.get_databases()

    # Upstream: the request itself is met with a reset and never reaches moto.
    with (
        toxiproxy_server.toxic(
            moto_through_toxiproxy.name, toxiproxy.reset_peer(stream="upstream")
        ),
        pytest.raises((ConnectionClosedError, EndpointConnectionError)),
    ):
        glue.get_databases()

    assert "DatabaseList" in glue.get_databases()


def test_toxic_specs_use_toxiproxys_attribute_names(
    toxiproxy_server: toxiproxy.Toxiproxy, moto_through_toxiproxy: toxiproxy.Proxy
) -> None:
    specs = [
        toxiproxy.bandwidth(64, stream="upstream"),
        toxiproxy.timeout(1000, toxicity=0.5),
        toxiproxy.slicer(100, 10, 20, name="sliced"),
        toxiproxy.limit_data(4096, name="limited"),
    ]
    for spec in specs:
        toxiproxy_server.add_toxic(moto_through_toxiproxy.name, spec)

    stored = {t["name"]: t for t in toxiproxy_server.toxics(moto_through_toxiproxy.name)}
    toxiproxy_server.clear_toxics(moto_through_toxiproxy.name)

    assert {name: (t["type"], t["stream"], t["attributes"]) for name, t in stored.items()} == {
        "bandwidth_upstream": ("bandwidth", "upstream", {"rate": 64}),
        "timeout_downstream": ("timeout", "downstream", {"timeout": 1000}),
        "sliced": (
            "slicer",
            "downstream",
            {"average_size": 100, "size_variation": 10, "delay": 20},
        ),
        "limited": ("limit_data", "downstream", {"bytes": 4096}),
    }
    assert stored["timeout_downstream"]["toxicity"] == 0.5
    assert toxiproxy_server.toxics(moto_through_toxiproxy.name) == []


def test_the_server_binary_is_the_pinned_version(toxiproxy_server: toxiproxy.Toxiproxy) -> None:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{toxiproxy_server.api}/version", timeout=5) as answer:
        assert answer.read().decode() == toxiproxy.VERSION
    assert Path(toxiproxy.binary()).name == "toxiproxy-server"
