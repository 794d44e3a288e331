"""JSON Schemas shipped with the package, and readable validation errors."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``<name>.schema.json`` from this package."""
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def field_name(path: list[Any] | tuple[Any, ...]) -> str:
    """``["events", "endpoints", 0, "url"]`` -> ``events.endpoints[0].url``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(top level)"


def _describe(error: ValidationError) -> str:
    field = field_name(list(error.absolute_path))
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = "" if field == "(top level)" else f" under {field}"
        return f"unknown setting {', '.join(unknown)}{where}; allowed: {', '.join(allowed)}"
    if error.validator == "pattern" and "description" in error.schema:
        return f"{field}: {error.instance!r} is not allowed; {error.schema['description']}"
    return f"{field}: {error.message}"


def validation_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way ``instance`` breaks ``schema``, one readable line each, most specific first."""
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (-len(e.absolute_path), e.json_path))
    return [_describe(e) for e in errors]
