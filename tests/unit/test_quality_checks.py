"""Ingest quality checks over batch statistics (no Spark)."""

from __future__ import annotations

import pytest

from tradelake.config import QualitySettings
from tradelake.quality import volume_anomaly


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
