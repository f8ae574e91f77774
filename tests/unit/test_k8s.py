"""The image and the spark-operator manifests (k8s/), checked without Docker or a cluster.

- Every manifest, source files and rendered overlays, validates against the spark-operator
  CRDs (tests/schemas/spark-operator), with unknown fields refused (tests/unit/k8s_manifests).
- The arguments in the manifests are parsed by the jobs' own parsers, strictly; a gold
  schedule's by backfill's, and each gold date's by the job's, as backfill passes them on.
- The static Spark settings agree with tradelake.session.spark_conf; the ConfigMap loads.
- The daily chain's timing: gold jobs retry past ingest's last attempt, maintenance after.
- One-offs and reruns by hand: the same spec as their schedule; a gold schedule rebuilds a
  landing's gold dates through jobs/backfill.py, its one-off runs the job for one date.
- The image's build script (docker/build.sh) runs, and stages exactly the project's jars.

Rendering needs kustomize (scripts/kustomize.sh: built once with Go, or kubectl); without
it those tests are skipped, except under CI (the CI variable set), where they fail.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.lakes import REPO
from tests.locks import pinned
from tests.submit import load_job
from tests.unit import k8s_manifests as km
from tradelake.config import Settings, load_settings
from tradelake.jars import JARS
from tradelake.runtime import DAILY_VOLUME, OHLCV, Run, yesterday_utc
from tradelake.session import spark_conf

K8S = REPO / "k8s"
OVERLAYS = ("dev", "prod", "prod-kafka")
# Overlays whose trades come from Kafka (the kafka component): landing on, ingest from it.
KAFKA_OVERLAYS = ("prod-kafka",)
# The scheduled jobs: manifest name -> job script (jobs/<script>.py).
SCHEDULED = {
    "tradelake-ingest": "ingest",
    "tradelake-daily-volume": "backfill",
    "tradelake-ohlcv-1m": "backfill",
    "tradelake-compact": "compact",
    "tradelake-land-kafka": "land_kafka",
}
# The schedules that rebuild the gold dates of yesterday's landing (a landing may carry
# late reports of earlier days): name -> the gold job backfill runs for each date, which
# is also the script of the schedule's one-off twin (one trade date).
LANDING_BACKFILLS = {"tradelake-daily-volume": DAILY_VOLUME, "tradelake-ohlcv-1m": OHLCV}
# The gold dates a landing's ingest lists, as the tests pretend: the landing's own day and
# a late report's of two days before.
LATE_REPORT_DAYS = 2
JOBS_DIR_IN_IMAGE = "/opt/tradelake/jobs"
CONF_DIR_IN_IMAGE = "/opt/tradelake/conf"
SPARK_UID = 185
# sparkConf keys the operator's webhook refuses (internal/webhook/sparkconf_validator.go).
DENIED_SPARK_CONF = {
    "spark.master",
    "spark.kubernetes.driver.master",
    "spark.kubernetes.container.image",
    "spark.kubernetes.driver.container.image",
    "spark.kubernetes.executor.container.image",
    "spark.kubernetes.authenticate.driver.serviceAccountName",
    "spark.kubernetes.authenticate.executor.serviceAccountName",
    "spark.kubernetes.authenticate.oauthTokenFile",
    "spark.kubernetes.authenticate.oauthToken",
    "spark.kubernetes.authenticate.driver.oauthTokenFile",
    "spark.kubernetes.authenticate.driver.oauthToken",
    "spark.kubernetes.authenticate.executor.oauthTokenFile",
    "spark.kubernetes.authenticate.executor.oauthToken",
}
# A scheduled run is named <schedule>-<timestamp, up to 19 digits>, and its Spark UI
# service <run>-ui-svc must be a DNS-1035 label (63 characters).
RUN_NAME_SUFFIX = 1 + 19
UI_SERVICE_SUFFIX = len("-ui-svc")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Longest a job may run and still end the UTC day it started (test_daily_chain_timing).
RUN_BUDGET_MINUTES = 120


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pinned_spark_version() -> str:
    """The pyspark version pinned in pyproject.toml's ``spark`` extra."""
    (pin,) = [
        spec
        for spec in pyproject()["project"]["optional-dependencies"]["spark"]
        if "pyspark" in spec
    ]
    return pin.split("==")[1]


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> Callable[[str], list[dict[str, Any]]]:
    """``kustomize build k8s/<path>``, once per path."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def build(path: str) -> list[dict[str, Any]]:
        if path not in cache:
            try:
                cache[path] = km.render(K8S / path)
            except km.KustomizeUnavailable as err:
                if os.environ.get("CI"):
                    pytest.fail(f"CI must render the overlays: {err}")
                pytest.skip(f"cannot render the overlays: {err}")
        return copy.deepcopy(cache[path])

    return build


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def app_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The SparkApplication spec of an application or of a schedule's template."""
    spec = doc["spec"]["template"] if doc["kind"] == "ScheduledSparkApplication" else doc["spec"]
    return dict(spec)


def spark_apps(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in km.CRD_FILES]


def job_script(spec: dict[str, Any]) -> str:
    """``ingest`` for ``local:///opt/tradelake/jobs/ingest.py``."""
    path = spec["mainApplicationFile"]
    prefix = f"local://{JOBS_DIR_IN_IMAGE}/"
    assert path.startswith(prefix) and path.endswith(".py"), path
    return str(path[len(prefix) : -len(".py")])


# ---------------------------------------------------------------------------------------
# Every manifest validates
# ---------------------------------------------------------------------------------------


def source_manifests() -> list[Path]:
    """Every full manifest under k8s/ (not kustomizations, patches or config)."""
    return sorted(
        path
        for path in K8S.rglob("*.yaml")
        if path.name not in ("kustomization.yaml", "kustomizeconfig.yaml")
        and "components" not in path.parts
    )


@pytest.mark.parametrize("path", source_manifests(), ids=lambda path: str(path.relative_to(K8S)))
def test_every_source_manifest_validates(path: Path) -> None:
    for doc in km.load_documents(path):
        # Core kinds get their namespaces from kustomize; spark-operator ones are complete.
        problems = km.errors(doc, partial=doc["kind"] not in km.CRD_FILES)
        assert not problems, "\n".join(f"{path}: {problem}" for problem in problems)


def test_shared_settings_patches_validate_and_agree() -> None:
    component = K8S / "components" / "spark-defaults"
    (application,) = km.load_documents(component / "application.yaml")
    (schedule,) = km.load_documents(component / "schedule.yaml")
    km.assert_valid([application, schedule], partial=True)
    assert application["spec"] == schedule["spec"]["template"]


@pytest.mark.parametrize(
    "path", ["base", "jobs", *OVERLAYS, *(f"{overlay}/jobs" for overlay in OVERLAYS)]
)
def test_rendered_manifests_validate(
    rendered: Callable[[str], list[dict[str, Any]]], path: str
) -> None:
    target = f"overlays/{path}" if path.split("/")[0] in OVERLAYS else path
    docs = rendered(target)
    assert docs
    km.assert_valid(docs)


def test_a_misspelt_field_is_caught() -> None:
    """The pruning check works: the API server would silently drop these."""
    (doc,) = km.load_documents(K8S / "jobs" / "ingest.yaml")
    doc["spec"]["driver"]["securityContex"] = {"runAsNonRoot": True}
    doc["spec"]["restartPolicy"]["onFailureRetry"] = 3
    problems = km.errors(doc)
    assert any("spec.driver.securityContex:" in problem for problem in problems)
    assert any("spec.restartPolicy.onFailureRetry:" in problem for problem in problems)
    (patch,) = km.load_documents(K8S / "components" / "spark-defaults" / "application.yaml")
    patch["spec"]["sparkConf"]["spark.sql.ansi.enabled"] = True  # not a string
    assert any("sparkConf" in problem for problem in km.errors(patch, partial=True))


# ---------------------------------------------------------------------------------------
# The schedules and the one-off applications
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """When a schedule's first and last attempts start, in minutes after 00:00 UTC."""

    first: int
    last: int


def timing(schedule: dict[str, Any]) -> Timing:
    """The operator retries after interval x attempts so far (linear back-off)."""
    minute, hour, day_of_month, month, day_of_week = schedule["spec"]["schedule"].split()
    assert (day_of_month, month, day_of_week) == ("*", "*", "*"), "daily schedules only"
    first = int(hour) * 60 + int(minute)
    policy = schedule["spec"]["template"]["restartPolicy"]
    retries, interval = policy["onFailureRetries"], policy["onFailureRetryInterval"]
    waited_seconds = interval * retries * (retries + 1) // 2
    return Timing(first, first + waited_seconds // 60)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_schedules_are_explicit_and_bounded(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    schedules = by_kind(rendered(f"overlays/{overlay}"), "ScheduledSparkApplication")
    assert set(schedules) == set(SCHEDULED)
    for name, schedule in schedules.items():
        spec = schedule["spec"]
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert spec["timeZone"] == "UTC", name
        assert 1 <= spec["successfulRunHistoryLimit"] <= 10, name
        assert 1 <= spec["failedRunHistoryLimit"] <= 10, name
        # The landing schedule runs only where the kafka component turns it on.
        landing_off = name == "tradelake-land-kafka" and overlay not in KAFKA_OVERLAYS
        assert spec.get("suspend", False) is landing_off, name
        policy = spec["template"]["restartPolicy"]
        assert policy["type"] == "OnFailure", name
        assert 1 <= policy["onFailureRetries"] <= 10, name
        assert policy["onFailureRetryInterval"] >= 60, name
        assert 1 <= policy["onSubmissionFailureRetries"] <= 10, name
        assert policy["onSubmissionFailureRetryInterval"] >= 30, name
        assert job_script(spec["template"]) == SCHEDULED[name]
        assert "timeToLiveSeconds" not in spec["template"], "history limits clean up runs"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_daily_chain_timing(rendered: Callable[[str], list[dict[str, Any]]], overlay: str) -> None:
    """Ingest, then the gold jobs, then maintenance at a quiet hour, all in one UTC day."""
    schedules = by_kind(rendered(f"overlays/{overlay}"), "ScheduledSparkApplication")
    ingest = timing(schedules["tradelake-ingest"])
    gold = [timing(schedules[name]) for name in ("tradelake-daily-volume", "tradelake-ohlcv-1m")]
    compact = timing(schedules["tradelake-compact"])
    for job in gold:
        # Gold jobs start after ingest had time to run, and keep retrying (exit 4: landing
        # not published) until after ingest's last retry had time to publish the landing.
        assert job.first >= ingest.first + 60
        assert job.last >= ingest.last + 60
        # Maintenance runs once the gold jobs are done retrying.
        assert compact.first >= job.last + 30
    for job in (ingest, *gold, compact):
        # Every attempt ends the day it started: yesterday (UTC), the jobs' default --date
        # and the gold schedules' --landing, is the same day for every retry.
        assert job.last + RUN_BUDGET_MINUTES < 24 * 60


def landing_backfill(job: str, job_arguments: list[str]) -> list[str]:
    """A gold schedule's arguments: ``job`` for each gold date of yesterday's landing, with
    the job's own flags (its one-off's arguments) after ``--``, which backfill passes on."""
    return [job, "--landing", "yesterday", *(["--", *job_arguments] if job_arguments else [])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_off_jobs_run_what_the_schedules_run(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    """A one-off is its schedule's template. A gold one runs its job for one date (what
    Airflow submits with --date), where the schedule runs the same job with the same flags
    through jobs/backfill.py, for every gold date of yesterday's landing."""
    schedules = by_kind(rendered(f"overlays/{overlay}"), "ScheduledSparkApplication")
    one_offs = by_kind(rendered(f"overlays/{overlay}/jobs"), "SparkApplication")
    assert set(one_offs) == set(schedules)
    for name, app in one_offs.items():
        spec = dict(app["spec"])
        assert spec.pop("timeToLiveSeconds") > 0, "one-off runs are cleaned up"
        template = dict(schedules[name]["spec"]["template"])
        if name in LANDING_BACKFILLS:
            job = LANDING_BACKFILLS[name]
            assert (job_script(spec), job_script(template)) == (job, "backfill"), name
            assert template.pop("arguments") == landing_backfill(job, spec.pop("arguments")), name
            del spec["mainApplicationFile"], template["mainApplicationFile"]
        assert spec == template, name
        assert app["metadata"]["namespace"] == schedules[name]["metadata"]["namespace"]
        assert app["metadata"]["labels"] == schedules[name]["metadata"]["labels"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_names_fit_what_the_operator_derives_from_them(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    for doc in spark_apps(rendered(f"overlays/{overlay}") + rendered(f"overlays/{overlay}/jobs")):
        name = doc["metadata"]["name"]
        assert _DNS_1035.match(name), name
        suffix = RUN_NAME_SUFFIX if doc["kind"] == "ScheduledSparkApplication" else 0
        assert len(name) + suffix + UI_SERVICE_SUFFIX <= 63, name


# ---------------------------------------------------------------------------------------
# The arguments are the jobs' real arguments
# ---------------------------------------------------------------------------------------


@dataclass
class ParsedRun:
    job: str
    args: argparse.Namespace
    day: date
    # A backfill's runs of its job, one per date, in order.
    dates: list[ParsedRun] = field(default_factory=list)


def strict_known_args(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """``parser.parse_known_args(argv)``, failing on an error or on any unknown flag."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parsed, unknown = parser.parse_known_args(argv)
    except SystemExit:
        pytest.fail(f"{parser.prog} rejects {argv}: {stderr.getvalue()}")
    assert not unknown, f"{parser.prog} does not define {unknown}"
    return parsed


def parse_with_job(module: ModuleType, arguments: list[str]) -> ParsedRun:
    """Run ``module.main(arguments)`` up to its argument parsing, with nothing else.

    The job's own parser parses, strictly: the jobs tolerate unknown flags (AWS Glue adds
    some), so an unknown or misspelt flag in a manifest would be ignored in silence.
    ``run_job`` is replaced, so the job's body (settings, Spark) never runs.
    """
    seen: dict[str, Any] = {}
    real_parse = module.parse_job_args

    def strict_parse(
        parser: argparse.ArgumentParser, argv: list[str] | None, **kwargs: Any
    ) -> argparse.Namespace:
        strict_known_args(parser, argv)
        parsed: argparse.Namespace = real_parse(parser, argv, **kwargs)
        seen["args"] = parsed
        return parsed

    def fake_run_job(job: str, day: date, body: Callable[..., None]) -> int:
        seen.update(job=job, day=day)
        return 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "parse_job_args", strict_parse)
        patch.setattr(module, "run_job", fake_run_job)
        patch.setattr(module, "configure_logging", lambda: None)
        assert module.main(list(arguments)) == 0
    return ParsedRun(seen["job"], seen["args"], seen["day"])


def parse_with_backfill(
    backfill: ModuleType, jobs: Mapping[str, ModuleType], arguments: list[str]
) -> ParsedRun:
    """Run jobs/backfill.py's ``main(arguments)`` with no settings, Spark or lake, and each
    date's job, with what backfill gives it, up to its argument parsing (``parse_with_job``).

    Backfill parses strictly too: it passes the flags it does not know on to each date's
    job, so a misspelt flag of its own, or a job flag before ``--`` that abbreviates one of
    its own, would go astray in silence. A landing's gold dates are the landing and the day
    ``LATE_REPORT_DAYS`` before it; the dates run one after the other.
    """
    seen: dict[str, Any] = {}
    dates: list[ParsedRun] = []
    real_parser = backfill.parser

    def gold_dates(spark: Any, settings: Any, landing: date) -> list[date]:
        return [landing - timedelta(days=LATE_REPORT_DAYS), landing]

    def load_gold_job(name: str) -> SimpleNamespace:
        def main(argv: list[str]) -> int:
            dates.append(parse_with_job(jobs[name], argv))
            return 0

        return SimpleNamespace(main=main)

    def run_one_by_one(
        spark: Any,
        settings: Any,
        job: str,
        days: list[date],
        concurrency: int,
        resume: bool,
        run_date: Callable[[date], int],
    ) -> dict[str, Any]:
        return {"failed": {day.isoformat(): code for day in days if (code := run_date(day))}}

    def fake_run_job(job: str, day: date, body: Callable[[Run], None]) -> int:
        seen.update(job=job, day=day)
        body(Run(run_id="parse", job=job, day=day, started_at=datetime.now(UTC), summary={}))
        return 0

    with pytest.MonkeyPatch.context() as patch:

        def strict_parser() -> argparse.ArgumentParser:
            parser = real_parser()

            def parse_known_args(
                args: list[str] | None = None, namespace: argparse.Namespace | None = None
            ) -> tuple[argparse.Namespace, list[str]]:
                seen["args"] = strict_known_args(real_parser(), args)
                return seen["args"], []

            patch.setattr(parser, "parse_known_args", parse_known_args)
            return parser

        patch.setattr(backfill, "parser", strict_parser)
        patch.setattr(backfill, "run_job", fake_run_job)
        patch.setattr(backfill, "configure_logging", lambda: None)
        patch.setattr(backfill, "load_settings", lambda *args, **kwargs: None)
        patch.setattr(backfill, "build_session", lambda *args, **kwargs: None)
        patch.setattr(backfill, "landing_gold_dates", gold_dates)
        patch.setattr(backfill, "load_job", load_gold_job)
        patch.setattr(backfill, "run_backfill", run_one_by_one)
        assert backfill.main(list(arguments)) == 0
    return ParsedRun(seen["job"], seen["args"], seen["day"], dates)


@pytest.fixture(scope="module")
def jobs() -> dict[str, ModuleType]:
    scripts = {*SCHEDULED.values(), *LANDING_BACKFILLS.values()}
    return {script: load_job(script) for script in scripts}


def parse_manifest_arguments(
    jobs: Mapping[str, ModuleType], script: str, arguments: list[str]
) -> ParsedRun:
    """``arguments`` parsed as ``jobs/<script>.py`` parses them (each date's, for backfill)."""
    if script == "backfill":
        return parse_with_backfill(jobs[script], jobs, arguments)
    return parse_with_job(jobs[script], arguments)


@pytest.mark.parametrize("path", [*OVERLAYS, *(f"{overlay}/jobs" for overlay in OVERLAYS)])
def test_manifest_arguments_parse_with_the_jobs_parsers(
    rendered: Callable[[str], list[dict[str, Any]]], jobs: dict[str, ModuleType], path: str
) -> None:
    for doc in spark_apps(rendered(f"overlays/{path}")):
        spec = app_spec(doc)
        script = job_script(spec)
        assert (REPO / "jobs" / f"{script}.py").is_file()
        before = yesterday_utc()
        run = parse_manifest_arguments(jobs, script, spec.get("arguments", []))
        assert run.job == script
        if script == "backfill":
            # --landing yesterday: yesterday, UTC, computed when the run starts; each of
            # its gold dates is a run of the gold job the schedule is named after.
            gold = LANDING_BACKFILLS[doc["metadata"]["name"]]
            assert run.day in (before, yesterday_utc()) and run.args.landing == run.day
            assert run.args.start is None and run.args.end is None
            late = run.day - timedelta(days=LATE_REPORT_DAYS)
            assert [(each.job, each.day) for each in run.dates] == [(gold, late), (gold, run.day)]
            assert all(each.args.date == each.day for each in run.dates)
        elif script == "compact":
            # No --date: every partition (compaction skips the healthy ones).
            assert run.args.date is None and run.args.since is None
        elif script == "land_kafka":
            # No --date: the offsets decide what lands; job_runs records today (UTC).
            assert run.args.date is None and run.day >= before
        else:
            # No --date: yesterday, UTC, computed when the run starts.
            assert run.day in (before, yesterday_utc())
        for job_run in run.dates or [run]:
            if job_run.job == "ohlcv":
                interval = doc["metadata"]["name"].removeprefix("tradelake-ohlcv-")
                assert job_run.args.interval == interval, "the name says which ohlcv table"


def test_strict_parsing_catches_an_unknown_flag(jobs: dict[str, ModuleType]) -> None:
    with pytest.raises(AssertionError, match="does not define"):
        parse_with_job(jobs["ohlcv"], ["--intervall", "5m"])
    # backfill would pass these on to ohlcv, which ignores what it does not know (Glue).
    with pytest.raises(AssertionError, match="ohlcv.py does not define"):
        parse_with_backfill(
            jobs["backfill"], jobs, ["ohlcv", "--landing", "2025-01-15", "--", "--intervall", "5m"]
        )
    # A job flag before "--" is backfill's to parse: strictly, it is not one of its own.
    with pytest.raises(AssertionError, match="backfill.py does not define"):
        parse_with_backfill(
            jobs["backfill"], jobs, ["ohlcv", "--landing", "2025-01-15", "--interval", "5m"]
        )


# ---------------------------------------------------------------------------------------
# Settings: the ConfigMap and the static Spark configuration
# ---------------------------------------------------------------------------------------


def settings_from_configmap(data: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Load settings exactly as a pod does: the image's profiles + the ConfigMap's variables."""
    for name in list(os.environ):
        if name.startswith(("TRADELAKE_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(REPO / "conf"))
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configmap_is_valid_configuration(
    rendered: Callable[[str], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    overlay: str,
) -> None:
    (configmap,) = by_kind(rendered(f"overlays/{overlay}"), "ConfigMap").values()
    data = configmap["data"]
    for name in data:
        # pydantic-settings ignores a variable it does not know: a typo would do nothing.
        field = name.removeprefix("TRADELAKE_").lower().split("__")[0]
        assert name == "AWS_REGION" or (
            name.startswith("TRADELAKE_") and field in Settings.model_fields
        ), f"{name} is not a tradelake setting"
    settings = settings_from_configmap(data, monkeypatch)
    assert settings.env == "aws"
    assert settings.catalog_type == "glue"
    assert settings.s3_filesystem == "s3a"
    assert settings.warehouse.startswith("s3://") and settings.raw_uri.startswith("s3://")
    assert settings.lineage.transport != "file", "a file in the pod is lost with it"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_spark_conf_agrees_with_the_library(
    rendered: Callable[[str], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    overlay: str,
) -> None:
    """sparkConf carries every deployment-independent setting of ``spark_conf``, equal.

    The settings that depend on the deployment (buckets, region) are applied by the job
    from the ConfigMap (``build_session``); repeating them in sparkConf would make a
    second source that can disagree, so they must not be there.
    """
    docs = rendered(f"overlays/{overlay}")
    (configmap,) = by_kind(docs, "ConfigMap").values()
    settings = settings_from_configmap(configmap["data"], monkeypatch)
    expected = spark_conf(settings)
    elsewhere = spark_conf(
        settings.model_copy(
            update={
                "warehouse": "s3://another-bucket/elsewhere",
                "raw_uri": "s3://another-raw-bucket/elsewhere",
                "aws_region": "ap-southeast-2",
            }
        )
    )
    deployment_specific = {key for key in expected if elsewhere.get(key) != expected[key]}
    assert deployment_specific, "the comparison must vary something"
    static = {key: value for key, value in expected.items() if key not in deployment_specific}
    for doc in spark_apps(docs + rendered(f"overlays/{overlay}/jobs")):
        conf = app_spec(doc)["sparkConf"]
        name = doc["metadata"]["name"]
        assert {key: conf.get(key) for key in static} == static, name
        assert not deployment_specific & set(conf), f"{name}: set by the job from the ConfigMap"
        assert not DENIED_SPARK_CONF & set(conf), f"{name}: the operator refuses these"
        assert "spark.kubernetes.namespace" not in conf, name


# ---------------------------------------------------------------------------------------
# What the pods run as, and with what
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve_in_the_namespace(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered(f"overlays/{overlay}")
    (namespace,) = by_kind(docs, "Namespace")
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, km.describe(doc)
    accounts = by_kind(docs, "ServiceAccount")
    configmaps = by_kind(docs, "ConfigMap")
    (binding,) = by_kind(docs, "RoleBinding").values()
    assert binding["roleRef"]["name"] in by_kind(docs, "Role")
    for subject in binding["subjects"]:
        assert subject["name"] in accounts and subject["namespace"] == namespace
    one_offs = rendered(f"overlays/{overlay}/jobs")
    for doc in spark_apps(docs + one_offs):
        assert doc["metadata"]["namespace"] == namespace
        spec = app_spec(doc)
        volumes = {volume["name"] for volume in spec["volumes"]}
        for role in ("driver", "executor"):
            pod = spec[role]
            assert pod["serviceAccount"] in accounts
            for source in pod["envFrom"]:
                assert source["configMapRef"]["name"] in configmaps
            assert {mount["name"] for mount in pod["volumeMounts"]} <= volumes
        driver_account = spec["driver"]["serviceAccount"]
        assert any(subject["name"] == driver_account for subject in binding["subjects"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened(rendered: Callable[[str], list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    (namespace,) = by_kind(docs, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in spark_apps(docs + rendered(f"overlays/{overlay}/jobs")):
        spec = app_spec(doc)
        for volume in spec["volumes"]:
            assert set(volume) == {"name", "emptyDir"}, "scratch space only, nothing shared"
        writable: set[str] = set()
        for role in ("driver", "executor"):
            pod = spec[role]
            container, pod_context = pod["securityContext"], pod["podSecurityContext"]
            assert container["runAsNonRoot"] is True and pod_context["runAsNonRoot"] is True
            assert container["runAsUser"] == pod_context["runAsUser"] == SPARK_UID
            assert container["allowPrivilegeEscalation"] is False
            assert container["privileged"] is False
            assert container["readOnlyRootFilesystem"] is True
            assert container["capabilities"] == {"drop": ["ALL"]}
            assert container["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
            mounted = {mount["mountPath"] for mount in pod["volumeMounts"]}
            # A read-only root needs these writable: the JVM, Python, S3 staging, Ivy.
            assert {"/tmp", "/opt/spark/work-dir"} <= mounted
            writable = mounted if not writable else writable & mounted
        ivy = spec["sparkConf"]["spark.jars.ivy"]
        assert any(ivy.startswith(f"{path}/") for path in writable), ivy


def cpu(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_are_requested_and_limited(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    """Spark requests ``cores`` CPUs, limits them to ``coreLimit``, and requests and
    limits memory to ``memory`` + ``memoryOverhead``."""
    for doc in spark_apps(rendered(f"overlays/{overlay}") + rendered(f"overlays/{overlay}/jobs")):
        spec = app_spec(doc)
        for role in ("driver", "executor"):
            pod = spec[role]
            assert pod["cores"] >= 1 and cpu(pod["coreLimit"]) >= pod["cores"], role
            assert re.fullmatch(r"\d+[mg]", pod["memory"]), role
            assert re.fullmatch(r"\d+[mg]", pod["memoryOverhead"]), role
        assert spec["executor"]["instances"] >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_accounts_use_the_overlays_iam_role(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    accounts = by_kind(rendered(f"overlays/{overlay}"), "ServiceAccount")
    assert set(accounts) == {"tradelake-driver", "tradelake-executor"}
    roles = {
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for account in accounts.values()
    }
    (role,) = roles
    assert re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", role)
    (base_role,) = {
        doc["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for doc in km.load_documents(K8S / "base" / "serviceaccounts.yaml")
    }
    assert role != base_role, "each overlay names its own role"
    assert accounts["tradelake-driver"]["automountServiceAccountToken"] is True
    assert accounts["tradelake-executor"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_is_the_drivers_and_namespaced(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered(f"overlays/{overlay}")
    assert not [doc for doc in docs if doc["kind"].startswith("Cluster")]
    (role,) = by_kind(docs, "Role").values()
    resources = {resource for rule in role["rules"] for resource in rule["resources"]}
    assert resources == {"pods", "configmaps", "services"}, "no secrets, nothing else"
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_image_pinned_to_the_project_version(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    apps = spark_apps(rendered(f"overlays/{overlay}") + rendered(f"overlays/{overlay}/jobs"))
    images = {app_spec(doc)["image"] for doc in apps}
    (image,) = images
    repository, _, tag = image.rpartition(":")
    assert repository.endswith("/tradelake"), image
    assert tag == pyproject()["project"]["version"], "tag the image with the package version"
    assert {app_spec(doc)["sparkVersion"] for doc in apps} == {pinned_spark_version()}
    assert {app_spec(doc)["type"] for doc in apps} == {"Python"}


# ---------------------------------------------------------------------------------------
# The image
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    value: str


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, line continuations joined, by build stage."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    instructions, stage = [], -1
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword.upper(), " ".join(value.split())))
    return instructions


def test_dockerfile_builds_on_the_pinned_spark_image() -> None:
    instructions = dockerfile()
    args = {
        i.value.split("=")[0]: i.value.split("=")[1]
        for i in instructions
        if i.keyword == "ARG" and "=" in i.value
    }
    version = pinned_spark_version()
    assert args["SPARK_IMAGE"] == f"apache/spark:{version}-scala2.13-java17-python3-ubuntu"
    assert [i.value for i in instructions if i.keyword == "FROM"] == [
        "${SPARK_IMAGE} AS build",
        "${SPARK_IMAGE}",
    ]
    build_runs = [i.value for i in instructions if i.stage == 0 and i.keyword == "RUN"]
    assert any("docker/build.sh /stage --venv /opt/tradelake/venv" in run for run in build_runs)


def test_dockerfile_installs_where_the_manifests_look() -> None:
    final = [i for i in dockerfile() if i.stage == 1]
    copies = {
        tuple(i.value.split()[1:])
        for i in final
        if i.keyword == "COPY" and "--from=build" in i.value
    }
    assert copies == {
        ("/stage/jars/", "/opt/spark/jars/"),
        ("/opt/tradelake/venv/", "/opt/tradelake/venv/"),
        ("/stage/jobs/", f"{JOBS_DIR_IN_IMAGE}/"),
        ("/stage/conf/", f"{CONF_DIR_IN_IMAGE}/"),
    }
    env = " ".join(i.value for i in final if i.keyword == "ENV")
    assert f"TRADELAKE_CONF_DIR={CONF_DIR_IN_IMAGE}" in env
    assert "PYSPARK_PYTHON=/opt/tradelake/venv/bin/python" in env
    assert [i.value for i in final if i.keyword == "USER"][-1] == str(SPARK_UID)
    assert [i.value for i in final if i.keyword == "WORKDIR"][-1] == "/opt/spark/work-dir"
    (application,) = km.load_documents(K8S / "components" / "spark-defaults" / "application.yaml")
    # The JIT option spark-submit.sh gives every local JVM by default (docs/benchmarks.md).
    submit = (REPO / "spark-submit.sh").read_text()
    assert "TRADELAKE_JIT_OPTS--XX:-DontCompileHugeMethods" in submit
    for role in ("driver", "executor"):
        options = application["spec"][role]["javaOptions"].split()
        [log4j] = [o.split("file:")[1] for o in options if o.startswith("-Dlog4j2.")]
        assert log4j.startswith(f"{CONF_DIR_IN_IMAGE}/")
        assert (REPO / "conf" / Path(log4j).name).is_file()
        assert "-XX:-DontCompileHugeMethods" in options


def test_dockerignore_sends_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "send nothing by default (no .venv, .jars, lake)"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    sources = set()
    for i in dockerfile():
        if i.stage == 0 and i.keyword == "COPY":
            sources |= {source.rstrip("/") for source in i.value.split()[:-1]}
    assert sources == included
    assert all((REPO / source).exists() for source in sources)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Run docker/build.sh as the Dockerfile does (with the virtualenv); CI runs this."""
    root = tmp_path_factory.mktemp("image")
    stage, venv = root / "stage", root / "venv"
    environment = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        [str(REPO / "docker" / "build.sh"), str(stage), "--venv", str(venv)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return stage, venv


def test_build_script_stages_exactly_the_project_jars(staged: tuple[Path, Path]) -> None:
    stage, _ = staged
    assert sorted(path.name for path in (stage / "jars").iterdir()) == sorted(
        jar.file_name for jar in JARS
    )


def test_build_script_stages_the_package_jobs_and_conf(staged: tuple[Path, Path]) -> None:
    stage, venv = staged
    version = pyproject()["project"]["version"]
    assert [path.name for path in (stage / "dist").iterdir()] == [
        f"tradelake-{version}-py3-none-any.whl"
    ]
    assert sorted(path.name for path in (stage / "jobs").iterdir()) == sorted(
        path.name for path in (REPO / "jobs").glob("*.py")
    )
    assert sorted(path.name for path in (stage / "conf").iterdir()) == sorted(
        path.name for path in (REPO / "conf").iterdir() if path.is_file()
    )
    # The virtualenv has the package and its dependencies, and no PySpark of its own:
    # the image's (/opt/spark/python) is the one that matches its jars.
    probe = (
        "import importlib.util, tradelake.config, pydantic_settings, boto3;"
        "print(importlib.util.find_spec('pyspark') is None)"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


def test_the_image_virtualenv_has_the_runtime_lock_versions(staged: tuple[Path, Path]) -> None:
    _, venv = staged
    probe = (
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
    )
    versions = {canonicalize_name(name): v for name, v in json.loads(result.stdout).items()}
    pins = pinned(REPO / "requirements" / "runtime.txt")
    assert {name: versions.get(name) for name in pins} == pins
    assert versions["tradelake"] == pyproject()["project"]["version"]


# ---------------------------------------------------------------------------------------
# Reruns by hand: k8s/rerun.py
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rerun() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_rerun", K8S / "rerun.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rerun_of_every_schedule_is_a_valid_run_of_that_date(
    rendered: Callable[[str], list[dict[str, Any]]],
    jobs: dict[str, ModuleType],
    rerun: ModuleType,
    overlay: str,
) -> None:
    day = date(2025, 1, 15)
    for name, schedule in by_kind(
        rendered(f"overlays/{overlay}"), "ScheduledSparkApplication"
    ).items():
        manifest = rerun.rerun_manifest(schedule, day, [], "a1b2")
        km.assert_valid([manifest])
        assert manifest["metadata"]["name"] == f"{name}-20250115-a1b2"
        assert manifest["metadata"]["namespace"] == schedule["metadata"]["namespace"]
        assert manifest["metadata"]["labels"]["tradelake.io/date"] == "2025-01-15"
        spec = dict(manifest["spec"])
        assert spec.pop("timeToLiveSeconds") > 0
        arguments = spec.pop("arguments")
        template = dict(schedule["spec"]["template"])
        scheduled = template.pop("arguments")
        assert spec == template, "the same image, settings, sizing and retries"
        run = parse_manifest_arguments(jobs, SCHEDULED[name], arguments)
        if name in LANDING_BACKFILLS:
            # What the schedule runs the morning after: the gold dates of that landing.
            landing = scheduled.index("--landing") + 1
            assert arguments == [*scheduled[:landing], "2025-01-15", *scheduled[landing + 1 :]]
            assert run.args.landing == day
            assert [each.day for each in run.dates] == [date(2025, 1, 13), day]
        else:
            assert arguments == [*scheduled, "--date", "2025-01-15"]
            assert run.args.date == day


def test_rerun_replaces_a_date_and_adds_job_flags(rerun: ModuleType) -> None:
    (source,) = km.load_documents(K8S / "jobs" / "compact.yaml")
    source["spec"]["arguments"] = ["--date", "2024-01-01", "--table", "trades", "--date=2024-02-02"]
    manifest = rerun.rerun_manifest(source, date(2025, 1, 15), ["--dry-run"], "0000")
    assert manifest["spec"]["arguments"] == [
        "--table",
        "trades",
        "--date",
        "2025-01-15",
        "--dry-run",
    ]
    assert source["spec"]["arguments"][0] == "--date", "the input is not modified"


def test_rerun_names_a_run_of_a_schedule_after_the_schedule(rerun: ModuleType) -> None:
    (source,) = km.load_documents(K8S / "jobs" / "ingest.yaml")
    source["metadata"]["name"] = "tradelake-ingest-1764226800000000000"
    source["metadata"]["labels"]["sparkoperator.k8s.io/scheduled-app-name"] = "tradelake-ingest"
    manifest = rerun.rerun_manifest(source, None, [], "beef")
    assert manifest["metadata"]["name"] == "tradelake-ingest-now-beef"
    assert not any(key.startswith("sparkoperator.") for key in manifest["metadata"]["labels"])


def test_rerun_of_a_landing_backfill_sets_the_landing_and_gives_flags_to_the_job(
    rerun: ModuleType, jobs: dict[str, ModuleType]
) -> None:
    (schedule,) = km.load_documents(K8S / "base" / "schedules" / "daily-volume.yaml")
    now = rerun.rerun_manifest(schedule, None, [], "0000")
    assert now["spec"]["arguments"] == ["daily_volume", "--landing", "yesterday"]
    template = schedule["spec"]["template"]
    template["arguments"] = ["daily_volume", "--landing=2024-01-01", "--concurrency", "1"]
    manifest = rerun.rerun_manifest(schedule, date(2025, 1, 15), ["--database", "scratch"], "0000")
    arguments = manifest["spec"]["arguments"]
    assert arguments == [
        "daily_volume",
        "--concurrency",
        "1",
        "--landing",
        "2025-01-15",
        "--",
        "--database",
        "scratch",
    ]
    run = parse_with_backfill(jobs["backfill"], jobs, arguments)
    assert (run.args.landing, run.args.concurrency, run.args.database) == (
        date(2025, 1, 15),
        1,
        None,
    )
    assert [(each.day, each.args.database) for each in run.dates] == [
        (date(2025, 1, 13), "scratch"),
        (date(2025, 1, 15), "scratch"),
    ]
    assert template["arguments"][1] == "--landing=2024-01-01", "the input is not modified"


def test_rerun_cli_reads_kubectl_json_and_refuses_other_kinds() -> None:
    (schedule,) = km.load_documents(K8S / "base" / "schedules" / "ohlcv-1m.yaml")
    command = [
        sys.executable,
        str(K8S / "rerun.py"),
        "--date",
        "2025-01-15",
        "--",
        "--fill",
        "forward",
    ]
    result = subprocess.run(
        command, input=json.dumps(schedule), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["kind"] == "SparkApplication"
    assert manifest["spec"]["arguments"] == [
        "ohlcv",
        "--landing",
        "2025-01-15",
        "--",
        "--interval",
        "1m",
        "--fill",
        "forward",
    ]
    result = subprocess.run(
        command,
        input=json.dumps({"kind": "ConfigMap"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "ScheduledSparkApplication" in result.stderr


def test_schedules_in_the_base_have_one_off_twins() -> None:
    """Every schedule has its one-off application, and each is listed in its kustomization."""
    schedules = sorted(path.name for path in (K8S / "base" / "schedules").glob("*.yaml"))
    one_offs = sorted(
        path.name for path in (K8S / "jobs").glob("*.yaml") if path.name != "kustomization.yaml"
    )
    assert schedules == one_offs
    (base,) = km.load_documents(K8S / "base" / "kustomization.yaml")
    (jobs_kustomization,) = km.load_documents(K8S / "jobs" / "kustomization.yaml")
    assert {f"schedules/{name}" for name in schedules} <= set(base["resources"])
    assert set(one_offs) == set(jobs_kustomization["resources"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingest_reads_kafka_exactly_where_the_landing_runs(
    rendered: Callable[[str], list[dict[str, Any]]], overlay: str
) -> None:
    """The kafka component switches both together; no other overlay lands or reads Kafka."""
    schedules = by_kind(rendered(f"overlays/{overlay}"), "ScheduledSparkApplication")
    one_offs = by_kind(rendered(f"overlays/{overlay}/jobs"), "SparkApplication")
    from_kafka = ["--source", "kafka"] if overlay in KAFKA_OVERLAYS else []
    assert schedules["tradelake-ingest"]["spec"]["template"]["arguments"] == from_kafka
    assert one_offs["tradelake-ingest"]["spec"]["arguments"] == from_kafka
    landing = schedules["tradelake-land-kafka"]["spec"]
    assert landing["suspend"] is (overlay not in KAFKA_OVERLAYS)
