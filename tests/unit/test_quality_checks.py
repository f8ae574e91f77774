"""Ingest quality checks over batch statistics (no Spark)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tradelake.config import DEFAULT_INGEST_SEVERITY, QualitySettings
from tradelake.ingest.checks import BatchStats, evaluate_checks, volume_anomaly
from tradelake.quality import gate_failures


@pytest.mark.parametrize(
    ("loaded", "passed"),
    [(49, False), (50, True), (100, True), (150, True), (151, False), (0, False)],
)
def test_volume_anomaly_compares_with_the_median(loaded: int, passed: bool) -> None:
    result = volume_anomaly(loaded, [100, 90, 400, 110, 100], QualitySettings(), "warn")
    assert (result.passed, result.observed, result.severity) == (passed, loaded, "warn")
    assert result.threshold == "within [50, 150] (median 100 of the last 5 days)"


def test_volume_anomaly_passes_without_enough_history() -> None:
    result = volume_anomaly(5, [100, 100], QualitySettings(), "error")
    assert result.passed
    assert result.threshold == "needs 3 published days, found 2"


def stats(**overrides: object) -> BatchStats:
    values: dict[str, object] = {
        "records_read": 10,
        "loaded": 8,
        "duplicates_dropped": 1,
        "rejected": 1,
        "rejected_by_reason": {"side_invalid": 1},
        "loaded_sharing_trade_id": 0,
        "loaded_with_nulls": 0,
        "latest_traded_at": datetime(2025, 1, 15, 23, 0, tzinfo=UTC),
        "drift_records": 0,
        "drift_fields": [],
        **overrides,
    }
    return BatchStats(**values)  # type: ignore[arg-type]


def test_the_checks_are_those_the_configuration_names_with_their_severities() -> None:
    checks = evaluate_checks(stats(), date(2025, 1, 15), QualitySettings())
    assert [check.check for check in checks] == list(DEFAULT_INGEST_SEVERITY)
    assert {check.check: check.severity for check in checks} == DEFAULT_INGEST_SEVERITY
    overridden = QualitySettings(severity={"unreadable_files": "error"})
    by_name = {c.check: c for c in evaluate_checks(stats(), date(2025, 1, 15), overridden)}
    assert by_name["unreadable_files"].severity == "error"


def test_unreadable_files_are_reported_apart_from_the_reject_ratio() -> None:
    """Files are no records: 3 unreadable files leave reject_ratio at 1 of 10 records."""
    checks = {
        check.check: check
        for check in evaluate_checks(
            stats(unreadable_files=3), date(2025, 1, 15), QualitySettings()
        )
    }
    assert (checks["reject_ratio"].observed, checks["reject_ratio"].passed) == (0.1, True)
    assert (checks["unreadable_files"].observed, checks["unreadable_files"].passed) == (3, False)
    assert gate_failures(list(checks.values())) == []  # warn by default: reported, not gated
