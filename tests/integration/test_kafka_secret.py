"""The Kafka landing job's client options from AWS Secrets Manager over HTTP (moto)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.lakes import FakeAws
from tradelake.config import KafkaSettings, Settings
from tradelake.errors import ConfigError
from tradelake.kafka_landing import with_secret_options

pytestmark = pytest.mark.integration

JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required password="s3cr3t";'


def settings_with_secret(fake: FakeAws, secret: str | None) -> Settings:
    """Settings whose Kafka options name a fresh secret holding ``secret`` (None: no secret)."""
    name = f"tradelake/kafka-{uuid.uuid4().hex[:8]}"
    if secret is not None:
        fake.client("secretsmanager").create_secret(Name=name, SecretString=secret)
    kafka = KafkaSettings(
        bootstrap_servers="b-1.msk.example:9096",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        options={"client.id": "lander", "sasl.jaas.config": "overridden"},
        options_secret_id=name,
    )
    return Settings(
        catalog_type="hadoop",
        warehouse="/tmp/w",
        aws_region=fake.region,
        secrets_endpoint=fake.endpoint,
        kafka=kafka,
    )


def test_the_secret_s_options_are_laid_over_the_configured_ones(aws_env: FakeAws) -> None:
    settings = settings_with_secret(aws_env, json.dumps({"sasl.jaas.config": JAAS}))

    kafka = with_secret_options(settings)

    assert kafka.client_properties() == {
        "bootstrap.servers": "b-1.msk.example:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "client.id": "lander",
        "sasl.jaas.config": JAAS,
    }
    # Without a secret id the settings are used as they are, no AWS call made.
    plain = settings.kafka.model_copy(update={"options_secret_id": None})
    assert with_secret_options(settings.model_copy(update={"kafka": plain})) is plain


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "TRADELAKE_KAFKA__OPTIONS_SECRET_ID"),  # no such secret
        (f"sasl.jaas.config={JAAS}", "JSON object of Kafka client options"),
        (json.dumps({"sasl.jaas.config": JAAS, "retries": 3}), "string values"),
        (json.dumps({"bootstrap.servers": "elsewhere:9092"}), "TRADELAKE_KAFKA__BOOTSTRAP_SERVERS"),
    ],
)
def test_an_unusable_secret_is_a_configuration_error_that_never_shows_it(
    aws_env: FakeAws, secret: str | None, message: str
) -> None:
    settings = settings_with_secret(aws_env, secret)

    with pytest.raises(ConfigError, match=message) as raised:
        with_secret_options(settings)

    assert "s3cr3t" not in str(raised.value)
