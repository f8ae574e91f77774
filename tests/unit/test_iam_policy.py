"""The IAM policies in deploy/ cover every AWS call tradelake makes, and nothing more.

boto3 call sites are found by scanning ``lib/tradelake`` for ``.client("<service>")`` and
calls of that service's operations (names from botocore's own service model); Iceberg's
GlueCatalog and S3FileIO calls happen in the JVM, so they are listed here. Each call is
checked against the policy of the principal that makes it, on a concrete resource.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from botocore.session import get_session

from tests.lakes import REPO

LIB = REPO / "lib" / "tradelake"
JOB_POLICY = REPO / "deploy" / "iam-policy.json"
ATHENA_POLICY = REPO / "deploy" / "iam-policy-athena.json"
DEPLOY_README = REPO / "deploy" / "README.md"

# Concrete values for the placeholders, so resources can be matched like IAM does.
VALUES = {
    "RawBucket": "raw-bucket",
    "RawPrefix": "landing",
    "WarehouseBucket": "lake-bucket",
    "WarehousePrefix": "warehouse",
    "ArtifactsBucket": "artifacts-bucket",
    "ArtifactsPrefix": "tradelake",
    "AthenaResultsBucket": "athena-results",
    "Workgroup": "analysts",
    "Region": "eu-west-1",
    "Account": "123456789012",
    "Database": "trading",
    "JobNamePrefix": "tradelake-",
    "JobRoleArn": "arn:aws:iam::123456789012:role/tradelake",
    "PiiKeySecretName": "tradelake/pii-key",
    "KafkaOptionsSecretName": "tradelake/kafka-client",
}
ARN_GLUE = "arn:aws:glue:eu-west-1:123456789012"
TABLE = f"{ARN_GLUE}:table/trading/trades"
RAW_FILE = "arn:aws:s3:::raw-bucket/landing/trades/date=2025-01-15/part-1.jsonl"
WAREHOUSE_FILE = "arn:aws:s3:::lake-bucket/warehouse/trading.db/trades/data/x.parquet"
ARTIFACT = "arn:aws:s3:::artifacts-bucket/tradelake/scripts/ingest.py"

# Files whose boto3 calls are made by the person deploying, never by the job role.
DEPLOYER_FILES = {"deploy.py"}
# Which policy file governs each service the library calls (the deployer's is separate).
POLICY_OF_SERVICE = {
    "s3": JOB_POLICY,
    "glue": JOB_POLICY,
    "secretsmanager": JOB_POLICY,
    "athena": ATHENA_POLICY,
}
# boto3 operations authorised by an IAM action of another name (S3's are the classic case).
IAM_ACTION_OF = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
}
# Iceberg GlueCatalog calls made by the jobs (JVM side): namespace and table existence
# (GetDatabase, GetTable), CREATE NAMESPACE/TABLE IF NOT EXISTS, SHOW TABLES (GetTables),
# every commit (UpdateTable). No job drops a table, so DeleteTable is not granted.
ICEBERG_GLUE_CATALOG = {
    "glue:GetDatabase": f"{ARN_GLUE}:database/trading",
    "glue:CreateDatabase": f"{ARN_GLUE}:database/trading",
    "glue:GetTable": TABLE,
    "glue:GetTables": f"{ARN_GLUE}:database/trading",
    "glue:CreateTable": TABLE,
    "glue:UpdateTable": TABLE,
}
# Iceberg S3FileIO on the warehouse: reads, writes (multipart above 32 MiB), deletes
# (expire, orphans, failed commits) and prefix listing (orphans).
S3_FILE_IO = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
# What the Athena query runner calls, whether or not its module is scanned yet.
ATHENA_RUNNER = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
)
# Actions AWS grants only on "Resource": "*", with the condition that narrows them.
STAR_RESOURCE_ALLOWED = {"cloudwatch:PutMetricData": ("cloudwatch:namespace", "Glue")}
# A job role able to do these could escalate or destroy: only the deployer has them.
NEVER_FOR_JOBS = (
    "glue:CreateJob",
    "glue:UpdateJob",
    "glue:TagResource",
    "glue:DeleteTable",
    "glue:DeleteDatabase",
    "iam:PassRole",
)


def _policy_text(path: Path) -> str:
    if path == DEPLOY_README:
        match = re.search(r"## Deployer permissions\s+```json\n(.*?)```", path.read_text(), re.S)
        assert match, f"{path} has no json block under '## Deployer permissions'"
        return match.group(1)
    return path.read_text()


@cache
def policy(path: Path) -> dict[str, Any]:
    """The policy with placeholders replaced by VALUES; fails on an unknown placeholder."""
    text = _policy_text(path)
    unknown = set(re.findall(r"\$\{(\w+)\}", text)) - set(VALUES)
    assert not unknown, f"{path.name}: unknown placeholders {sorted(unknown)}"
    return dict(json.loads(re.sub(r"\$\{(\w+)\}", lambda m: VALUES[m.group(1)], text)))


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def statements(path: Path) -> Iterator[dict[str, Any]]:
    yield from policy(path)["Statement"]


def allows(path: Path, action: str, resource: str) -> bool:
    """Whether an Allow statement covers ``action`` on ``resource`` (conditions aside)."""
    return any(
        any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(st["Action"]))
        and any(fnmatch.fnmatchcase(resource, r) for r in _as_list(st["Resource"]))
        for st in statements(path)
        if st["Effect"] == "Allow"
    )


def allowed_actions(path: Path) -> set[str]:
    return {a.lower() for st in statements(path) for a in _as_list(st["Action"])}


@cache
def operations(service: str) -> dict[str, str]:
    """snake_case boto3 method -> API operation name, from botocore's service model."""
    model = get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def call_sites() -> set[tuple[str, str, str]]:
    """(file, service, operation) for every boto3 call in the library."""
    found = set()
    for path in sorted(LIB.rglob("*.py")):
        text = path.read_text()
        services = set(re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", text))
        methods = set(re.findall(r"\.([a-z_0-9]+)\(", text))
        methods |= set(re.findall(r"""\.get_(?:paginator|waiter)\(\s*["']([a-z_0-9]+)""", text))
        for service in services:
            for method in methods & operations(service).keys():
                found.add((path.name, service, operations(service)[method]))
    return found


def iam_action(service: str, operation: str) -> str:
    return IAM_ACTION_OF.get((service, operation), f"{service}:{operation}")


def test_the_scan_finds_the_known_call_sites() -> None:
    sites = call_sites()
    assert ("maintenance.py", "s3", "ListObjectsV2") in sites
    assert ("maintenance.py", "s3", "DeleteObjects") in sites
    assert {("deploy.py", "glue", op) for op in ("GetJob", "CreateJob", "UpdateJob")} <= sites
    assert ("aws.py", "secretsmanager", "GetSecretValue") in sites


def test_every_job_side_boto3_call_is_allowed() -> None:
    missing = []
    for file, service, operation in sorted(call_sites()):
        if file in DEPLOYER_FILES:
            continue
        assert service in POLICY_OF_SERVICE, f"{file} calls {service}: which policy covers it?"
        action = iam_action(service, operation)
        if action.lower() not in allowed_actions(POLICY_OF_SERVICE[service]):
            missing.append(f"{file}: {service}.{operation} needs {action}")
    assert not missing, missing


def test_every_deployer_call_is_in_the_deployer_policy() -> None:
    deployer = allowed_actions(DEPLOY_README)
    missing = [
        f"{file}: {iam_action(service, op)}"
        for file, service, op in sorted(call_sites())
        if file in DEPLOYER_FILES and iam_action(service, op).lower() not in deployer
    ]
    assert not missing, missing
    assert allows(DEPLOY_README, "iam:PassRole", VALUES["JobRoleArn"])
    assert allows(DEPLOY_README, "glue:UpdateJob", f"{ARN_GLUE}:job/tradelake-ingest")
    assert not allows(DEPLOY_README, "glue:UpdateJob", f"{ARN_GLUE}:job/someone-elses")


@pytest.mark.parametrize(("action", "resource"), sorted(ICEBERG_GLUE_CATALOG.items()))
def test_iceberg_glue_catalog_calls_are_allowed_on_the_database(action: str, resource: str) -> None:
    assert allows(JOB_POLICY, action, resource)
    # Glue checks the catalog and database too, for table-level calls.
    assert allows(JOB_POLICY, action, f"{ARN_GLUE}:catalog")
    assert allows(JOB_POLICY, action, f"{ARN_GLUE}:database/trading")
    assert not allows(JOB_POLICY, action, f"{ARN_GLUE}:table/other_db/trades")
    assert not allows(JOB_POLICY, action, f"{ARN_GLUE}:database/other_db")


@pytest.mark.parametrize("action", S3_FILE_IO)
def test_s3_file_io_is_allowed_on_the_warehouse_only(action: str) -> None:
    assert allows(JOB_POLICY, action, WAREHOUSE_FILE)
    assert not allows(JOB_POLICY, action, "arn:aws:s3:::lake-bucket/elsewhere/x.parquet")


def test_bucket_listing_is_limited_to_the_prefixes() -> None:
    for bucket in ("raw-bucket", "lake-bucket"):
        assert allows(JOB_POLICY, "s3:ListBucket", f"arn:aws:s3:::{bucket}")
    for st in statements(JOB_POLICY):
        if "s3:ListBucket" in _as_list(st["Action"]):
            prefixes = st["Condition"]["StringLike"]["s3:prefix"]
            assert all(p in ("landing", "landing/*", "warehouse", "warehouse/*") for p in prefixes)


def test_raw_data_and_artifacts_are_read_only_except_raw_retention() -> None:
    assert allows(JOB_POLICY, "s3:GetObject", RAW_FILE)
    assert allows(JOB_POLICY, "s3:DeleteObject", RAW_FILE)  # compact's raw retention step
    assert not allows(JOB_POLICY, "s3:DeleteObject", "arn:aws:s3:::raw-bucket/landing/keep.txt")
    assert not allows(JOB_POLICY, "s3:PutObject", RAW_FILE)
    assert allows(JOB_POLICY, "s3:GetObject", ARTIFACT)
    assert not allows(JOB_POLICY, "s3:PutObject", ARTIFACT)


def test_glue_job_logs_are_allowed() -> None:
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws-glue/jobs/logs-v2"
    for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"):
        assert allows(JOB_POLICY, action, f"{group}:log-stream:jr_1")
    assert allows(JOB_POLICY, "logs:CreateLogGroup", group)


def test_the_athena_runner_is_allowed_on_its_workgroup_only() -> None:
    workgroup = "arn:aws:athena:eu-west-1:123456789012:workgroup/analysts"
    for action in ATHENA_RUNNER:
        assert allows(ATHENA_POLICY, action, workgroup)
        assert not allows(ATHENA_POLICY, action, workgroup.replace("analysts", "primary"))
    assert allows(ATHENA_POLICY, "glue:GetTable", TABLE)
    assert allows(ATHENA_POLICY, "s3:GetObject", WAREHOUSE_FILE)
    assert allows(ATHENA_POLICY, "s3:PutObject", "arn:aws:s3:::athena-results/q/1.csv")
    assert not allows(ATHENA_POLICY, "s3:PutObject", WAREHOUSE_FILE)


def test_the_job_role_cannot_define_jobs_pass_roles_or_drop_tables() -> None:
    granted = allowed_actions(JOB_POLICY)
    assert not [action for action in NEVER_FOR_JOBS if action.lower() in granted]


@pytest.mark.parametrize("path", [JOB_POLICY, ATHENA_POLICY, DEPLOY_README], ids=lambda p: p.name)
def test_no_wildcard_actions_and_no_star_resources_outside_the_allowlist(path: Path) -> None:
    for st in statements(path):
        assert st["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal"} & st.keys()
        actions = _as_list(st["Action"])
        assert all("*" not in action for action in actions), st["Sid"]
        if "*" in _as_list(st["Resource"]):
            for action in actions:
                assert action in STAR_RESOURCE_ALLOWED, f"{st['Sid']}: {action} on *"
                key, value = STAR_RESOURCE_ALLOWED[action]
                assert st["Condition"]["StringEquals"][key] == value


def test_the_job_reads_only_its_masking_key_and_kafka_options() -> None:
    # Secrets Manager appends a random 6-character suffix to secret ARNs.
    for name in ("tradelake/pii-key", "tradelake/kafka-client"):
        secret = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}-AbC123"
        assert allows(JOB_POLICY, "secretsmanager:GetSecretValue", secret)
    other = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:payroll/db-AbC123"
    assert not allows(JOB_POLICY, "secretsmanager:GetSecretValue", other)
