"""docs/development.md's module map is the package and its layers, as lint-imports checks them.

Every module of ``lib/tradelake`` is listed once in the map's table, and the table's layers
are the layers contract of ``pyproject.toml`` (``[tool.importlinter]``): the same layers in
the same order, each module in the layer the contract puts it in. ``lint-imports`` (``make
lint``) checks the imports against that contract; this test checks that what people read
is what it checks. No Spark.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from tests.lakes import REPO

PACKAGE = REPO / "lib" / "tradelake"
DEVELOPMENT_PAGE = REPO / "docs" / "development.md"
_ROW = re.compile(r"^\|\s*([^|`]+?)\s*\|\s*`([^`]+)`\s*\|")


def package_modules() -> list[str]:
    """Every module file of the package, relative to ``lib/tradelake`` (``ingest/job.py``)."""
    return sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"}
    )


def module_map() -> list[tuple[str, str]]:
    """(layer, module) of each row of the "Module map" table, in the page's order."""
    text = DEVELOPMENT_PAGE.read_text(encoding="utf-8")
    section = text.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = _ROW.match(line)
        if match and match.group(1) != "layer":
            rows.append((match.group(1), match.group(2)))
    return rows


def layers_contract() -> dict[str, Any]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    (layers,) = [contract for contract in contracts if contract["type"] == "layers"]
    return dict(layers)


def contract_layers() -> list[set[str]]:
    """The contract's layers, lowest first, each as the set of its top-level module names."""
    contract = layers_contract()
    assert contract["containers"] == ["tradelake"]
    return [
        {name.strip() for name in re.split(r"[|:]", layer)}
        for layer in reversed(contract["layers"])
    ]


def top_level(module: str) -> str:
    """``ingest/job.py`` -> ``ingest``; ``errors.py`` -> ``errors``: the name a layer lists."""
    return module.split("/")[0].removesuffix(".py")


def test_the_module_map_lists_every_module_of_the_package_once() -> None:
    documented = [module for _, module in module_map()]
    assert len(documented) == len(set(documented)), "a module is listed twice"
    modules = set(package_modules())
    assert set(documented) - modules == set(), "listed in the module map, not in the package"
    assert modules - set(documented) == set(), "add a row to docs/development.md's module map"


def test_the_module_maps_layers_are_the_layers_contract_lowest_first() -> None:
    rows = module_map()
    # The page's layers, in the order they first appear; each one a single run of rows.
    page_layers = list(dict.fromkeys(layer for layer, _ in rows))
    runs = [layer for i, (layer, _) in enumerate(rows) if i == 0 or rows[i - 1][0] != layer]
    assert runs == page_layers, "a layer's rows are not together"
    expected = contract_layers()
    assert len(page_layers) == len(expected)
    for layer, module in rows:
        assert top_level(module) in expected[page_layers.index(layer)], (
            f"{module} is under {layer!r} in docs/development.md, not where the layers "
            "contract of pyproject.toml puts it"
        )


def test_the_layers_contract_places_every_module_and_keeps_the_job_bodies_apart() -> None:
    contract = layers_contract()
    assert contract["exhaustive"] is True
    placed = [name for layer in contract_layers() for name in layer]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    names = {top_level(module) for module in package_modules()}
    assert set(placed) - names == set(), "a layer names a module the package does not have"
    assert names - set(placed) == set(), "place the module in a layer of [tool.importlinter]"
    (job_bodies,) = [layer for layer in contract["layers"] if "kafka_landing" in layer]
    assert "|" in job_bodies and ":" not in job_bodies, "job bodies must not import each other"
