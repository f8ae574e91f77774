"""Configuration layering and validation (no Spark)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from tests.lakes import REPO
from tradelake.config import Settings, load_settings, settings_argument
from tradelake.deploy import job_settings
from tradelake.errors import ConfigError
from tradelake.runtime import job_parser, parse_job_args


@pytest.fixture
def conf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "TRADELAKE_ENV",
        "TRADELAKE_RAW_URI",
        "TRADELAKE_WAREHOUSE",
        "TRADELAKE_CATALOG_TYPE",
        "TRADELAKE_CATALOG_URI",
        "TRADELAKE_DATABASE",
        "TRADELAKE_S3_ENDPOINT",
        "TRADELAKE_GLUE_ENDPOINT",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "local.toml").write_text(
        'raw_uri = "/data/raw"\n'
        'catalog_uri = "jdbc:sqlite:/data/catalog.db"\n'
        'database = "from_toml"\n'
        "[quality]\nmax_reject_ratio = 0.2\nfreshness_max_lag_hours = 3.0\n"
    )
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def test_profile_values_apply(conf_dir: Path) -> None:
    settings = load_settings()
    assert settings.raw_root == "/data/raw"
    assert settings.database == "from_toml"
    assert settings.quality.max_reject_ratio == 0.2
    assert settings.contract.max_price == Decimal("1000000")


def test_environment_beats_profile_and_cli_beats_environment(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_DATABASE", "from_env")
    monkeypatch.setenv("TRADELAKE_RAW_URI", "s3://bucket/raw")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert load_settings().database == "from_env"
    settings = load_settings(database="from_cli")
    assert settings.database == "from_cli"
    assert settings.raw_root == "s3://bucket/raw"


def test_nested_cli_override_keeps_other_profile_values(conf_dir: Path) -> None:
    settings = load_settings(quality={"max_reject_ratio": 0.5})
    assert settings.quality.max_reject_ratio == 0.5
    assert settings.quality.freshness_max_lag_hours == 3.0


def test_nested_environment_variable(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_PRICE", "500")
    assert load_settings().contract.max_price == Decimal("500")


def test_relative_paths_resolve_against_working_directory(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_URI", "jdbc:sqlite:./lake/catalog.db")
    monkeypatch.setenv("TRADELAKE_WAREHOUSE", "./lake/warehouse")
    settings = load_settings()
    assert settings.catalog_uri_resolved == f"jdbc:sqlite:{tmp_path.resolve()}/lake/catalog.db"
    assert settings.warehouse_root == f"{tmp_path.resolve()}/lake/warehouse"


def test_jdbc_without_uri_is_a_config_error(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (conf_dir / "local.toml").write_text("")
    with pytest.raises(ConfigError, match="TRADELAKE_CATALOG_URI is required"):
        load_settings()


def test_glue_needs_an_s3_warehouse(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_TYPE", "glue")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("TRADELAKE_WAREHOUSE", "/tmp/warehouse")
    with pytest.raises(ConfigError, match="must be an s3:// URI"):
        load_settings()


def test_unknown_catalog_type_names_the_allowed_values(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_TYPE", "hive")
    with pytest.raises(ConfigError, match="catalog_type"):
        load_settings()


def test_missing_profile_for_a_named_env(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELAKE_ENV", "staging")
    with pytest.raises(ConfigError, match="staging.toml does not exist"):
        load_settings()


@pytest.mark.parametrize("bad", ["0", "-1", "10000000000"])
def test_contract_bounds_must_fit_decimal_18_8(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_QUANTITY", bad)
    with pytest.raises(ConfigError, match="max_quantity"):
        load_settings()


def test_database_name_is_checked(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="TRADELAKE_DATABASE"):
        load_settings(database="Trading-DB")


def test_unknown_quality_check_in_severity_is_rejected(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="freshnes"):
        load_settings(quality={"severity": {"freshnes": "error"}})


def test_s3_locations_need_a_region(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELAKE_RAW_URI", "s3://raw/landing")
    with pytest.raises(ConfigError, match="AWS_REGION is required"):
        load_settings()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert load_settings().aws_region == "eu-west-1"


# --tradelake-settings: how a job on AWS Glue (arguments, no environment) gets its settings.


@pytest.fixture
def glue_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Like a Glue worker: no TRADELAKE_* variables and no conf/<env>.toml to find."""
    names = {f"TRADELAKE_{field.upper()}" for field in Settings.model_fields}
    names |= {"AWS_REGION", "AWS_DEFAULT_REGION", "TRADELAKE_CONF_DIR"}
    names |= {name for name in os.environ if name.startswith("TRADELAKE_")}
    for name in names - {"TRADELAKE_JARS_DIR"}:
        monkeypatch.setenv(name, "")  # setenv first, so monkeypatch restores the absence
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(tmp_path))
    return tmp_path


def test_the_settings_argument_reproduces_the_deployed_settings(
    glue_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(REPO / "conf"))
    deployed_env = {
        "TRADELAKE_ENV": "aws",  # catalog_type comes from conf/aws.toml
        "TRADELAKE_WAREHOUSE": "s3://lake/warehouse",
        "TRADELAKE_RAW_URI": "s3://raw/landing",
        "TRADELAKE_DATABASE": "markets",
        "AWS_REGION": "eu-west-1",
        "TRADELAKE_CONTRACT__MAX_PRICE": "5000.5",
        "TRADELAKE_QUALITY__MAX_REJECT_RATIO": "0.2",
        "TRADELAKE_QUALITY__SEVERITY": '{"freshness": "error"}',
        "TRADELAKE_MAINTENANCE__RETENTION_DAYS": '{"trades": 365}',
        "TRADELAKE_ATHENA__WORKGROUP": "analysts",
        "TRADELAKE_GLUE_JOBS__ROLE_ARN": "arn:aws:iam::123456789012:role/tradelake-jobs",
    }
    for name, value in deployed_env.items():
        monkeypatch.setenv(name, value)
    deployed = load_settings()
    argument = settings_argument(job_settings(deployed))
    for name in deployed_env:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(glue_worker))
    environment = dict(os.environ)
    glue_argv = ["--JOB_NAME", "tradelake-ingest", "--tradelake-settings", argument]

    args = parse_job_args(job_parser("ingest", ""), glue_argv)
    on_glue = load_settings(args.tradelake_settings)

    assert on_glue.catalog_type == "glue"
    assert on_glue.database == "markets"
    assert on_glue.aws_region == "eu-west-1"
    assert on_glue.quality.max_reject_ratio == 0.2
    assert on_glue.quality.severity == {"freshness": "error"}
    assert on_glue.maintenance.retention_days == {"trades": 365}
    assert on_glue.s3_filesystem == "platform"
    assert on_glue.model_dump(exclude={"env", "glue_jobs", "s3_filesystem"}) == (
        deployed.model_dump(exclude={"env", "glue_jobs", "s3_filesystem"})
    )
    # A settings source of its own: nothing is written into the process environment.
    assert dict(os.environ) == environment


def test_the_argument_wins_over_the_environment_and_loses_to_flags(
    glue_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_DATABASE", "from_env")
    monkeypatch.setenv("TRADELAKE_CATALOG_TYPE", "hadoop")
    monkeypatch.setenv("TRADELAKE_QUALITY__FRESHNESS_MAX_LAG_HOURS", "9")
    args = parse_job_args(
        job_parser("ingest", ""),
        [
            '--tradelake-settings={"database": "from_argument", '
            '"quality": {"max_reject_ratio": 0.2, "severity": {"freshness": "error"}}}',
        ],
    )

    settings = load_settings(args.tradelake_settings)
    assert settings.database == "from_argument"
    assert settings.quality.max_reject_ratio == 0.2
    assert settings.quality.freshness_max_lag_hours == 9  # the environment still counts

    flagged = load_settings(
        args.tradelake_settings, database="from_flag", quality={"max_reject_ratio": 0.5}
    )
    assert flagged.database == "from_flag"
    # A flag replaces one nested value, not the argument's whole section.
    assert flagged.quality.max_reject_ratio == 0.5
    assert flagged.quality.severity == {"freshness": "error"}
    assert load_settings().database == "from_env"


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"env": "aws"}', "unknown settings ['env']"),
        ('{"bogus": 1}', "unknown settings ['bogus']"),
        ('{"database": "Bad-Name"}', "TRADELAKE_DATABASE='Bad-Name'"),
    ],
)
def test_a_bad_settings_argument_is_a_config_error(
    glue_worker: Path, argument: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(argument)


def test_one_aws_timeout_reaches_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from tradelake import aws
    from tradelake.session import catalog_conf, s3a_conf

    settings = Settings(
        catalog_type="glue",
        warehouse="s3://lake/warehouse",
        aws_region="us-east-1",
        aws_timeout_seconds=7.5,
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = aws.client("s3", settings).meta.config
    assert (config.connect_timeout, config.read_timeout) == (7.5, 7.5)
    iceberg = catalog_conf(settings)
    assert iceberg["spark.sql.catalog.lake.http-client.apache.socket-timeout-ms"] == "7500"
    assert iceberg["spark.sql.catalog.lake.http-client.apache.connection-timeout-ms"] == "7500"
    s3a = s3a_conf(settings)
    assert s3a["spark.hadoop.fs.s3a.connection.timeout"] == "7500ms"
    assert s3a["spark.hadoop.fs.s3a.connection.establish.timeout"] == "7500ms"
    with pytest.raises(ValueError, match="aws_timeout_seconds"):
        Settings(aws_timeout_seconds=0)
