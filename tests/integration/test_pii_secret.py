"""The PII masking key read from AWS Secrets Manager over HTTP (moto)."""

from __future__ import annotations

import pytest

from tests.lakes import FakeAws
from tradelake.config import Settings
from tradelake.errors import ConfigError
from tradelake.pii import load_key

pytestmark = pytest.mark.integration


def test_key_comes_from_secrets_manager(aws_env: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELAKE_PII_KEY", raising=False)
    aws_env.client("secretsmanager").create_secret(
        Name="tradelake/pii-key", SecretString="from-secrets-manager"
    )
    settings = Settings(
        catalog_type="hadoop",
        warehouse="/tmp/w",
        aws_region=aws_env.region,
        secrets_endpoint=aws_env.endpoint,
        pii_key_secret_id="tradelake/pii-key",
    )
    assert load_key(settings) == b"from-secrets-manager"

    missing = settings.model_copy(update={"pii_key_secret_id": "tradelake/absent"})
    with pytest.raises(ConfigError, match="TRADELAKE_PII_KEY_SECRET_ID"):
        load_key(missing)
