"""The moto server the integration tests share answers real HTTP requests."""

from __future__ import annotations

import pytest

from tests.lakes import FakeAws

pytestmark = pytest.mark.integration


def test_moto_server_serves_s3_and_glue(aws_env: FakeAws) -> None:
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="a/b.txt", Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="probe")["Contents"]] == ["a/b.txt"]
    glue = aws_env.client("glue")
    glue.create_database(DatabaseInput={"Name": "probe_db"})
    assert glue.get_database(Name="probe_db")["Database"]["Name"] == "probe_db"
