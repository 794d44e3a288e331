"""Configuration: flags > ``DLPIPE_*`` environment > YAML file > defaults.

The merged result is validated against ``schemas/config.schema.json`` before a
stage does any work. Nested keys map to environment variables with ``__``:
``s3.endpoint_url`` is ``DLPIPE_S3__ENDPOINT_URL``. Any variable may instead be
given as ``<NAME>_FILE`` naming a file to read it from (a mounted Secret).

Secrets are the schema's ``writeOnly`` fields. They are refused in the YAML
file (a ConfigMap anyone in the namespace can read) and on the command line
(visible in ``ps``), come back as :class:`~dlpipe.secrets.Secret`, and print as
``***``.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dlpipe import failpoints
from dlpipe.errors import ConfigError
from dlpipe.schemas import field_name, load_schema, validation_errors
from dlpipe.secrets import Secret, redact

ENV_PREFIX = "DLPIPE_"
ENV_CONFIG_FILE = "DLPIPE_CONFIG"
FILE_SUFFIX = "_FILE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# -- schema navigation ------------------------------------------------------
def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref}")
        schema = {**root["$defs"][ref.removeprefix("#/$defs/")], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _child(schema: dict[str, Any], key: str | int, root: dict[str, Any]) -> dict[str, Any] | None:
    schema = _resolve(schema, root)
    if isinstance(key, int):
        items = schema.get("items")
        return _resolve(items, root) if isinstance(items, dict) else None
    if key in schema.get("properties", {}):
        return _resolve(schema["properties"][key], root)
    extra = schema.get("additionalProperties")
    return _resolve(extra, root) if isinstance(extra, dict) else None


def _defaults(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root)
    value = copy.deepcopy(schema.get("default", {} if schema.get("type") == "object" else None))
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            default = _defaults(sub, root)
            if default is not None:
                value.setdefault(key, default)
    return value


def _env_keys(schema: dict[str, Any], root: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every ``DLPIPE_*`` variable name the schema accepts, mapped to its key path."""
    schema = _resolve(schema, root)
    names: dict[str, tuple] = {}
    for key, sub in schema.get("properties", {}).items():
        path = (*prefix, key)
        names[ENV_PREFIX + "__".join(path).upper()] = path
        names.update(_env_keys(sub, root, path))
    return names


# -- merging -----------------------------------------------------------------
def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"{field_name(list(path))}: cannot set inside a non-object value")
    tree[path[-1]] = value


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(text: str, schema: dict[str, Any] | None, source: str) -> Any:
    """Turn an environment variable's text into the type its setting wants."""
    kind = (schema or {}).get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError
        if kind in ("array", "object"):
            if kind == "array" and not text.lstrip().startswith("["):
                return [item.strip() for item in text.split(",") if item.strip()]
            return json.loads(text)
    except (ValueError, json.JSONDecodeError):
        wanted = {"boolean": "true or false", "array": "a JSON list or comma-separated values"}.get(kind, f"a {kind}")
        raise ConfigError(f"{source}={text!r} is not {wanted}") from None
    return text


def _read_secret_file(path: str, source: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read {path}: {exc.strerror}") from None


def _secret_references(layer: Any) -> set[str]:
    """The environment variables that ``{fromEnv: NAME}`` secret references in a layer read."""
    if isinstance(layer, dict):
        if isinstance(layer.get("fromEnv"), str):
            return {layer["fromEnv"]}
        return set().union(*(_secret_references(value) for value in layer.values()))
    if isinstance(layer, list):
        return set().union(*(_secret_references(item) for item in layer))
    return set()


def _from_environment(environ: Mapping[str, str], schema: dict[str, Any], file_layer: Any) -> dict[str, Any]:
    """The ``DLPIPE_*`` variables as a configuration layer; an unknown one is refused with a suggestion.

    A variable that a secret reference names (``Authorization: {fromEnv:
    DLPIPE_HOOK_TOKEN}``) is the reference's value, not a setting: it is left
    alone, whether the reference is in the file or in another variable.
    """
    known = _env_keys(schema, schema)
    own = (ENV_CONFIG_FILE, failpoints.ENV_LOG, failpoints.ENV_KILL)
    layer: dict[str, Any] = {}
    unknown = []
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in own:
            continue
        base = name.removesuffix(FILE_SUFFIX) if name.endswith(FILE_SUFFIX) and name not in known else name
        if base not in known:
            unknown.append(name)
            continue
        path = known[base]
        if base != name:
            text = _read_secret_file(text, name)
        sub = _lookup(schema, path)
        value = _coerce(text, sub, name)
        _set(layer, path, Secret(value) if sub and sub.get("writeOnly") else value)
    referenced = _secret_references(file_layer) | _secret_references(layer)
    for name in unknown:
        if name not in referenced:
            close = difflib.get_close_matches(name.removesuffix(FILE_SUFFIX), known, n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else "see `dlpipe config --help` and README"
            raise ConfigError(f"unknown environment variable {name}", hint)
    return layer


def _lookup(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for key in path:
        if node is None:
            return None
        node = _child(node, key, schema)
    return node


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"configuration file {path}{where} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def _refuse_plain_secrets(layer: Any, schema: dict[str, Any], path: tuple, origin: str) -> None:
    """Secrets of plain string type may not come from a file or a flag."""
    if isinstance(layer, dict):
        for key, value in layer.items():
            sub = _lookup(schema, (*path, key))
            if sub and sub.get("writeOnly") and sub.get("type") == "string" and not isinstance(value, Secret):
                env = ENV_PREFIX + "__".join((*path, key)).upper()
                raise ConfigError(
                    f"{field_name([*path, key])} is a secret and must not be set in {origin}",
                    f"set {env} or {env}{FILE_SUFFIX} from a Kubernetes Secret instead",
                )
            _refuse_plain_secrets(value, schema, (*path, key), origin)
    elif isinstance(layer, list):
        for index, item in enumerate(layer):
            _refuse_plain_secrets(item, schema, (*path, index), origin)


def _resolve_secret_refs(value: Any, schema: dict[str, Any], path: tuple, environ: Mapping[str, str]) -> Any:
    """Replace ``{fromEnv: NAME}`` / ``{fromFile: PATH}`` / literals in secret fields with Secrets."""
    sub = _lookup(schema, path) if path else schema
    if sub and sub.get("writeOnly") and not isinstance(value, Secret):
        if isinstance(value, dict) and "fromEnv" in value:
            name = value["fromEnv"]
            if name not in environ:
                raise ConfigError(f"{field_name(list(path))}: environment variable {name} is not set")
            return Secret(environ[name])
        if isinstance(value, dict) and "fromFile" in value:
            return Secret(_read_secret_file(value["fromFile"], field_name(list(path))))
        return Secret(str(value))
    if isinstance(value, dict):
        return {k: _resolve_secret_refs(v, schema, (*path, k), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_secret_refs(v, schema, (*path, i), environ) for i, v in enumerate(value)]
    return value


def setting(key: str, schema_name: str = "config") -> dict[str, Any]:
    """The schema of one setting (``"train.epochs"``): its type, default, enum, description."""
    schema = load_schema(schema_name)
    found = _lookup(schema, tuple(key.split(".")))
    if found is None:
        raise KeyError(f"no setting {key} in the {schema_name} schema")
    return found


def load_config(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    schema_name: str = "config",
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge, validate and return the configuration.

    ``flags`` maps dotted keys (``"s3.region"``) to values the user passed on
    the command line; unset flags must be absent, not None. ``base`` holds a
    command's own defaults (``dlpipe run``'s sample data): above the schema's,
    below everything the user sets.
    """
    environ = os.environ if environ is None else environ
    schema = load_schema(schema_name)
    config_file = config_file or (Path(environ[ENV_CONFIG_FILE]) if environ.get(ENV_CONFIG_FILE) else None)

    merged: dict[str, Any] = _merge(_defaults(schema, schema) or {}, base or {})
    file_layer: dict[str, Any] = {}
    if config_file is not None:
        file_layer = _read_file(config_file)
        _refuse_plain_secrets(file_layer, schema, (), f"the configuration file {config_file}")
        merged = _merge(merged, file_layer)
    merged = _merge(merged, _from_environment(environ, schema, file_layer))
    flag_layer: dict[str, Any] = {}
    for key, value in (flags or {}).items():
        _set(flag_layer, tuple(key.split(".")), value)
    _refuse_plain_secrets(flag_layer, schema, (), "a command-line flag")
    merged = _merge(merged, flag_layer)

    problems = validation_errors(schema, redact(merged))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"invalid configuration: {problems[0]}{more}")
    return _resolve_secret_refs(merged, schema, (), environ)


def dump(config: Mapping[str, Any]) -> str:
    """The configuration as YAML with every secret shown as ``***``."""
    return yaml.safe_dump(redact(dict(config)), sort_keys=True)
