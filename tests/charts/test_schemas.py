"""The charts' values.schema.json files: strict, and in step with dlpipe-common."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from tests.tooling import charts
from tools import chart_schemas


@pytest.mark.parametrize("chart", charts.chart_dirs(), ids=lambda c: c.name)
def test_schema_is_strict_and_valid(chart) -> None:
    schema = json.loads((chart / "values.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False

    def objects_without_strictness(node, path="$"):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                yield path
            for key, value in node.items():
                yield from objects_without_strictness(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from objects_without_strictness(value, f"{path}[{i}]")

    assert not list(objects_without_strictness(schema)), "objects with properties must set additionalProperties"


@pytest.mark.parametrize("chart", charts.chart_dirs(), ids=lambda c: c.name)
def test_defaults_satisfy_schema(chart) -> None:
    import yaml

    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(values)]
    assert not errors


def test_shared_definitions_in_step() -> None:
    stale = chart_schemas.drift()
    assert not stale, f"run scripts/sync-chart-schemas.sh: stale $defs in {[str(p) for p in stale]}"
