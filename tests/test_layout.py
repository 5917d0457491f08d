"""The package's layout reads as its architecture: dependencies point one way.

``api`` uses ``auth`` and ``heatmap``; ``heatmap`` uses ``rollup``; neither ``auth`` nor
``heatmap`` nor ``rollup`` knows of ``api``, the admin or the commands, and ``rollup``
does not know of ``heatmap`` (docs/architecture.md). The modules every layer stands on
(``conf``, ``db``, ``exceptions``, ``models``) import no subpackage but the heatmap's
vocabulary, the Django-free facts they are written in terms of.
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
#: The foundations, and the one module of a subpackage they may import.
FOUNDATIONS = ("conf.py", "db.py", "exceptions.py", "models.py")
FOUNDATIONS_MAY_IMPORT = {"analytics.heatmap.vocabulary"}


def imported_modules(module: Path) -> set[str]:
    """The ``analytics.*`` modules ``module`` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("analytics.")}


def imported_subpackages(module: Path) -> set[str]:
    """The ``analytics.<name>`` subpackages ``module`` imports, at any depth of its code."""
    return {name.split(".")[1] for name in imported_modules(module)}


@pytest.mark.parametrize("subpackage", sorted(NEVER_IMPORTS))
def test_a_subpackage_never_imports_upward(subpackage: str) -> None:
    wrong = {
        str(module.relative_to(PACKAGE)): sorted(
            imported_subpackages(module) & NEVER_IMPORTS[subpackage]
        )
        for module in sorted((PACKAGE / subpackage).rglob("*.py"))
    }
    assert {module: names for module, names in wrong.items() if names} == {}


@pytest.mark.parametrize("foundation", FOUNDATIONS)
def test_a_foundation_imports_no_layer_above_it(foundation: str) -> None:
    subpackages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    upward = {
        name
        for name in imported_modules(PACKAGE / foundation) - FOUNDATIONS_MAY_IMPORT
        if name.split(".")[1] in subpackages
    }
    assert upward == set()


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "selectors.py"
    module.write_text("def f():\n    from analytics.api.views import CallHeatmapApi\n")
    assert imported_subpackages(module) == {"api"}


def test_the_architecture_page_lists_every_module() -> None:
    """docs/architecture.md is where a newcomer reads the layout: no module is left out."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    modules = {
        str(module.relative_to(PACKAGE.parent))
        for module in PACKAGE.rglob("*.py")
        if module.name != "__init__.py" and "migrations" not in module.parts
    }
    assert {module for module in modules if f"`{module}`" not in page} == set()
