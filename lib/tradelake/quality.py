"""What every job's quality gate shares: a check's result, and which failures block."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tradelake.config import Severity


@dataclass(frozen=True)
class CheckResult:
    """One quality check: observed value against its threshold."""

    check: str
    severity: Severity
    passed: bool
    observed: Any
    threshold: Any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate_failures(results: list[CheckResult]) -> list[CheckResult]:
    """The error-level checks that failed: any of them blocks publishing."""
    return [result for result in results if result.severity == "error" and not result.passed]
