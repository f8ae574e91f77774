"""The lock files: what every virtualenv installs, within pyproject's ranges, and in use.

pyproject.toml keeps ranges (a library user is not forced onto our pins); the locks in
requirements/ pin the versions CI last passed with (make lock, docs/development.md).
"""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.locks import REPO, assert_running_on_lock, pinned

LOCKS = REPO / "requirements"
# Which of pyproject's extras each lock resolves (None: the package's own dependencies).
LOCK_EXTRAS: dict[str, tuple[str | None, ...]] = {
    "dev.txt": (None, "dev"),
    "airflow.txt": (None, "airflow-dev"),
    "dbt.txt": (None, "dbt-dev"),
    "runtime.txt": (None,),
}


def requirements_of(extras: tuple[str | None, ...]) -> list[Requirement]:
    """pyproject's requirements for ``extras``, following ``tradelake[...]`` self-references."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    pending, seen, found = list(extras), set(), []
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["dependencies"] if extra is None else optional[extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == "tradelake":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def test_this_virtualenv_is_exactly_its_lock() -> None:
    assert_running_on_lock(
        "TRADELAKE_LOCK",
        "requirements/dev.txt",
        "`make setup` installs it again (after `make lock` if pyproject.toml changed)",
    )


@pytest.mark.parametrize("lock_name", sorted(LOCK_EXTRAS))
def test_every_lock_pins_what_pyproject_asks_within_its_range(lock_name: str) -> None:
    pins = pinned(LOCKS / lock_name)
    for requirement in requirements_of(LOCK_EXTRAS[lock_name]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock_name} lacks {requirement}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock_name} pins {name}=={pins[name]}, outside pyproject's {requirement}: "
            "run make lock"
        )


def test_the_image_and_glue_pins_are_the_tested_ones() -> None:
    # requirements/runtime.txt (the Docker image, the Glue jobs) is resolved within the
    # dev lock: production runs the versions the tests ran.
    dev, runtime = pinned(LOCKS / "dev.txt"), pinned(LOCKS / "runtime.txt")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_every_virtualenv_bootstraps_the_same_uv() -> None:
    # The Makefile installs uv at the dev lock's version into each virtualenv before it
    # syncs that virtualenv's lock; another version there would replace the running uv.
    for lock_name in ("airflow.txt", "dbt.txt"):
        assert pinned(LOCKS / lock_name)["uv"] == pinned(LOCKS / "dev.txt")["uv"], lock_name


def test_lock_files_are_the_ones_the_makefile_installs() -> None:
    makefile = (REPO / "Makefile").read_text()
    for lock_name in ("dev.txt", "airflow.txt", "dbt.txt"):
        assert f"requirements/{lock_name}" in makefile
    assert sorted(path.name for path in LOCKS.glob("*.txt")) == sorted(LOCK_EXTRAS)
