"""Every boto3 client tradelake builds: one session per client, one retry policy.

Region and endpoints come from settings (``AWS_REGION``, ``TRADELAKE_<SERVICE>_ENDPOINT``
for moto or MinIO), credentials from the standard AWS chain. Local runs and AWS differ
only in those values.
"""

from __future__ import annotations

from typing import Any

from tradelake.config import Settings
from tradelake.errors import ConfigError

# Bounded retries with the standard mode's backoff and jitter: throttling and transient
# errors are retried, a wrong bucket or a missing permission fails at once.
MAX_ATTEMPTS = 5
# The endpoint override setting of each service the project calls.
_ENDPOINTS = {
    "s3": "s3_endpoint",
    "glue": "glue_endpoint",
    "athena": "athena_endpoint",
    "secretsmanager": "secrets_endpoint",
}


def endpoint_url(service: str, settings: Settings) -> str | None:
    """The configured endpoint override of ``service`` (None: the AWS default)."""
    if service not in _ENDPOINTS:
        raise ValueError(
            f"no endpoint setting for AWS service {service!r}; known: {list(_ENDPOINTS)}"
        )
    value: str | None = getattr(settings, _ENDPOINTS[service])
    return value


def client(service: str, settings: Settings, *, max_attempts: int = MAX_ATTEMPTS) -> Any:
    """A boto3 client for ``service`` on its configured endpoint and region.

    Raises:
        ConfigError: no region is configured.
    """
    import boto3
    from botocore.config import Config

    if not settings.aws_region:
        raise ConfigError(
            f"no AWS region for {service}: set AWS_REGION (or AWS_DEFAULT_REGION) to the "
            "region of the buckets, the catalog and the jobs"
        )
    # A session of its own: boto3's default session caches the credentials it found first.
    session = boto3.session.Session(region_name=settings.aws_region)
    return session.client(
        service,
        endpoint_url=endpoint_url(service, settings),
        config=Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=settings.aws_timeout_seconds,
            read_timeout=settings.aws_timeout_seconds,
        ),
    )


def secret_string(settings: Settings, secret_id: str, variable: str) -> str:
    """The ``SecretString`` of an AWS Secrets Manager secret ("" when it has none).

    Raises:
        ConfigError: the secret cannot be read; the message names ``variable``, the setting
            that points at it.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    secrets = client("secretsmanager", settings)
    try:
        secret = secrets.get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as err:
        raise ConfigError(
            f"cannot read the secret {secret_id!r} ({err}); check {variable}, AWS_REGION "
            "and the role's secretsmanager:GetSecretValue on it"
        ) from err
    return str(secret.get("SecretString") or "")
