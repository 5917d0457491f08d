"""openapi.yaml's shape, its prose aside, is the contract: it changes only where an issue says.

The shape is everything but descriptions, summaries and examples, lists compared as sets:
paths, operations, parameters, enums, bounds, nullability, required fields, response
schemas, media types, headers and codes. ``openapi_shape.json`` beside this file holds it.
When an issue changes the contract, regenerate the file and commit both:

    UPDATE_CONTRACT_SHAPE=1 python -m pytest tests/api/test_schema_shape.py
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import SCHEMA_FILE

SHAPE_FILE = Path(__file__).with_name("openapi_shape.json")
PROSE = frozenset({"description", "summary", "example", "examples"})


def contract_shape(node: Any) -> Any:
    """``node`` without prose, its lists in a canonical order."""
    if isinstance(node, dict):
        return {key: contract_shape(value) for key, value in node.items() if key not in PROSE}
    if isinstance(node, list):
        items = [contract_shape(value) for value in node]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return node


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SCHEMA_FILE.read_text())
    return loaded


def test_the_contract_changes_only_in_prose_and_order(document: dict[str, Any]) -> None:
    shape = contract_shape(document)
    if os.environ.get("UPDATE_CONTRACT_SHAPE"):
        SHAPE_FILE.write_text(json.dumps(shape, indent=1, sort_keys=True) + "\n")
    assert shape == json.loads(SHAPE_FILE.read_text()), (
        "openapi.yaml's contract changed; if an issue asks for it, see this module's docstring."
    )


def min_calls_schema(document: dict[str, Any]) -> dict[str, Any]:
    parameters = document["paths"]["/api/dashboard-heatmap"]["get"]["parameters"]
    found: dict[str, Any] = next(p for p in parameters if p["name"] == "min_calls")["schema"]
    return found


def test_a_new_bound_changes_the_shape(document: dict[str, Any]) -> None:
    changed = copy.deepcopy(document)
    min_calls_schema(changed)["maximum"] += 1
    assert contract_shape(changed) != contract_shape(document)


def test_new_prose_and_a_new_order_do_not(document: dict[str, Any]) -> None:
    changed = copy.deepcopy(document)
    min_calls_schema(changed)["description"] = "Reworded."
    changed["components"]["schemas"]["MetricEnum"]["enum"].reverse()
    assert contract_shape(changed) == contract_shape(document)
