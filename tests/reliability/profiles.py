"""How much of the reliability tier runs: its profiles and the scale multiplier.

``TRADELAKE_RELIABILITY_PROFILE``: ``full`` (the default, what ``make test-reliability``
runs) or ``ci`` (every kind of check, fewer kill trials and fuzz examples);
``TRADELAKE_RELIABILITY_SCALE=N`` multiplies the profile's counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


def scale() -> int:
    """Multiplier of trial and example counts (``TRADELAKE_RELIABILITY_SCALE``, >= 1)."""
    return max(1, int(os.environ.get("TRADELAKE_RELIABILITY_SCALE", "1")))


@dataclass(frozen=True)
class Profile:
    """How many trials and examples each reliability test runs (before ``scale()``)."""

    name: str
    # SIGKILL trials per job (ingest, daily_volume, compact); None: one per kill anchor of
    # the job (every moment kind once: before, between and after its commits).
    crash_trials: int | None
    # Random landing days compared with the reference model, in-process.
    fuzz_examples: int
    # Drawn days run through jobs/ingest.py itself.
    fuzz_job_examples: int
    # Drawn sets of landings of versions (three days, reruns) ingested in-process, each
    # compared with the model after every run, besides the hand-built one every profile
    # runs (0: that one only). Each costs about ten job runs (a minute in CI).
    fuzz_version_examples: int


PROFILES = {
    "full": Profile(
        "full",
        crash_trials=10,
        fuzz_examples=1000,
        fuzz_job_examples=5,
        fuzz_version_examples=25,
    ),
    "ci": Profile(
        "ci",
        crash_trials=None,
        fuzz_examples=50,
        fuzz_job_examples=2,
        fuzz_version_examples=0,
    ),
}


def profile() -> Profile:
    """The profile ``TRADELAKE_RELIABILITY_PROFILE`` names (``full`` or ``ci``)."""
    name = os.environ.get("TRADELAKE_RELIABILITY_PROFILE", "full")
    if name not in PROFILES:
        raise pytest.UsageError(
            f"TRADELAKE_RELIABILITY_PROFILE={name!r}: use one of {sorted(PROFILES)}"
        )
    return PROFILES[name]
