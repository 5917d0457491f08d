"""The package's layout reads as its architecture: dependencies point one way.

``api`` uses ``auth`` and ``heatmap``; ``heatmap`` uses ``rollup``; neither ``auth`` nor
``heatmap`` nor ``rollup`` knows of ``api``, the admin or the commands, and ``rollup``
does not know of ``heatmap`` (docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "analytics"
#: Each subpackage, and the subpackages it must never import.
NEVER_IMPORTS = {
    "auth": {"api", "heatmap", "rollup", "admin", "management"},
    "heatmap": {"api", "auth", "admin", "management"},
    "rollup": {"api", "auth", "heatmap", "admin", "management"},
    "api": {"admin", "management"},
}


def imported_subpackages(module: Path) -> set[str]:
    """The ``analytics.<name>`` subpackages ``module`` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("analytics.")}


@pytest.mark.parametrize("subpackage", sorted(NEVER_IMPORTS))
def test_a_subpackage_never_imports_upward(subpackage: str) -> None:
    wrong = {
        str(module.relative_to(PACKAGE)): sorted(
            imported_subpackages(module) & NEVER_IMPORTS[subpackage]
        )
        for module in sorted((PACKAGE / subpackage).rglob("*.py"))
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "selectors.py"
    module.write_text("def f():\n    from analytics.api.views import CallHeatmapApi\n")
    assert imported_subpackages(module) == {"api"}
