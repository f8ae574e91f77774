"""The lock files (requirements/*.txt) against what the running virtualenv has installed.

Every virtualenv the project makes installs exactly one lock (Makefile, ``install_locked``);
these helpers let each tier check that it runs on what its lock says, so a test run on
other versions says so instead of passing or failing for reasons no one can reproduce.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# What `pip freeze` leaves out: the installers of a virtualenv, not its contents.
INSTALLER_PACKAGES = frozenset({"pip", "setuptools", "wheel", "distribute"})
PROJECT = "tradelake"


def lock_path(variable: str, default: str) -> Path:
    """The lock this run installed: ``variable`` (make test-latest sets it) or ``default``."""
    return REPO / os.environ.get(variable, default)


def pinned(lock: Path) -> dict[str, str]:
    """``name == version`` of every requirement line in ``lock``, by canonical name."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, separator, version = requirement.partition("==")
        assert separator and version, f"{lock.name}: {line!r} is not pinned with =="
        pins[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def installed() -> dict[str, str]:
    """Every distribution of the running interpreter, as ``pip freeze`` lists them."""
    versions = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    for name in (*INSTALLER_PACKAGES, PROJECT):
        versions.pop(name, None)
    return versions


def drift(lock: Path) -> list[str]:
    """How the running virtualenv differs from ``lock``; empty when it is exactly the lock."""
    want, have = pinned(lock), installed()
    problems = [
        f"{name}: lock {version}, installed {have.get(name, 'nothing')}"
        for name, version in sorted(want.items())
        if have.get(name) != version and name not in INSTALLER_PACKAGES
    ]
    problems += [
        f"{name} {have[name]}: installed, not in the lock" for name in have if name not in want
    ]
    return problems


def assert_running_on_lock(variable: str, default: str, remedy: str) -> None:
    """Fail, listing the differences, unless this virtualenv is exactly its lock."""
    lock = lock_path(variable, default)
    problems = drift(lock)
    assert not problems, f"this virtualenv is not {lock.relative_to(REPO)}; {remedy}: " + "; ".join(
        problems
    )
