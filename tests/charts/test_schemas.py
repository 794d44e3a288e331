"""The charts' values.schema.json files: strict, and in step with dlpipe-common and with the
Kubernetes definitions they are generated from."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from tests.tooling import charts
from tools import chart_kubernetes, chart_schemas

# Subschemas that only test or constrain a value some other schema already declares strictly.
_CONDITIONS = {"if", "then", "else", "not"}


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
                if key not in _CONDITIONS and not (key == "allOf" and path.endswith(".properties")):
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


def test_kubernetes_definitions_are_what_the_generator_writes() -> None:
    assert not chart_kubernetes.drift(), "run scripts/sync-chart-schemas.sh"


@pytest.mark.parametrize("chart", charts.chart_dirs(), ids=lambda c: c.name)
def test_every_reference_resolves_and_every_definition_is_used(chart) -> None:
    schema = json.loads((chart / "values.schema.json").read_text())
    text = json.dumps(schema)
    referenced = set(re.findall(r'"#/\$defs/([^"]+)"', text))
    assert referenced <= set(schema["$defs"]), sorted(referenced - set(schema["$defs"]))
    assert set(schema["$defs"]) <= referenced, sorted(set(schema["$defs"]) - referenced)


def test_kubernetes_types_are_the_strict_openapi_ones() -> None:
    """What kubernetes-validate --strict refuses in a manifest, the values refuse too."""
    generated = json.loads(chart_kubernetes.KUBERNETES_DEFS.read_text())
    source = chart_kubernetes.upstream(chart_kubernetes.source_version())
    for name, definition in generated.items():
        if name.startswith(chart_kubernetes.PREFIX) and "properties" in definition:
            upstream = chart_kubernetes.lookup(source, name)
            assert definition["additionalProperties"] is False, name
            assert set(definition["properties"]) == set(upstream["properties"]), name
