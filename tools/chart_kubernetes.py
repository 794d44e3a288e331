"""dlpipe-common's ``schema/kubernetes.json``: the Kubernetes types the charts take as values
(tolerations, affinity, security contexts, env, resources, NetworkPolicy peers), as JSON Schema
``$defs`` generated from the Kubernetes OpenAPI definitions themselves.

The definitions come from the strict bundle that ``kubernetes-validate`` ships (every object
``additionalProperties: false``, as ``kubernetes-validate --strict`` checks rendered manifests),
for the oldest Kubernetes minor dlpipe-common's ``kubeVersion`` admits: what that version
accepts, every cluster the charts install on accepts. Only the closure of :data:`ROOTS` is
kept, without descriptions, ``x-kubernetes-*`` hints, ``format`` tags and ``null`` (a value
left out is left out; helm deletes keys set to null before it validates).

OpenAPI gives structure and types, not the API server's own checks (``pkg/apis/core/validation``
in Kubernetes): an operator is "a string", a label value "a string". :data:`RULES` adds those
checks, each with what it mirrors, so that a value the API server would refuse fails at
``helm install`` naming the field instead of at apply time, or never (an ``Exists`` toleration
with a value simply matches nothing). Rules use JSON Schema draft-07 keywords only and RE2
patterns without look-arounds: helm 3 validates with gojsonschema (draft-07, Go regexp), helm 4
with a 2020-12 validator, the tests with Python's ``jsonschema``.

``python -m tools.chart_schemas`` (scripts/sync-chart-schemas.sh) rewrites the file and copies
what each chart uses into its values.schema.json; a test fails when either has drifted.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from tools.charts import CHARTS, REPO

KUBERNETES_DEFS = CHARTS / "dlpipe-common" / "schema" / "kubernetes.json"
PREFIX = "io.k8s."  # every Kubernetes definition's name starts so
CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
NETWORKING = "io.k8s.api.networking.v1."
BATCH = "io.k8s.api.batch.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

# The Kubernetes types that values of the charts hold; everything they reference comes along.
# ``<Type>.<field>`` stands for one field of a type (labels of ObjectMeta, not all of ObjectMeta).
ROOTS = [
    f"{CORE}Toleration",
    f"{CORE}Affinity",
    f"{CORE}PodSecurityContext",
    f"{CORE}SecurityContext",
    f"{CORE}EnvVar",
    f"{CORE}ResourceRequirements",
    f"{NETWORKING}NetworkPolicyPeer",
    f"{META}ObjectMeta.labels",
    f"{META}ObjectMeta.annotations",
    f"{CORE}PodSpec.nodeSelector",
    f"{CORE}PodSpec.priorityClassName",
    f"{NETWORKING}IngressSpec.ingressClassName",
    f"{NETWORKING}IngressRule.host",
    f"{BATCH}CronJobSpec.schedule",
]

# -- the API server's syntax rules (k8s.io/apimachinery/pkg/util/validation) ----
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_SUBDOMAIN = rf"{DNS_LABEL}(\.{DNS_LABEL})*"
# IsQualifiedName: [prefix/]name, the name 1-63 alphanumerics with -_. inside.
QUALIFIED_NAME = rf"({DNS_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?"
# IsValidLabelValue: empty, or a name part.
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
# resource.Quantity: a non-negative decimal (".5" included), then a binary or decimal suffix or an exponent.
QUANTITY_TEXT = r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][-+]?[0-9]+)?"
# IsEnvVarName before Kubernetes 1.30 relaxed it: a C identifier with - and . allowed.
ENV_NAME = r"[-._a-zA-Z][-._a-zA-Z0-9]*"
CONFIG_KEY = r"[-._a-zA-Z0-9]+"  # IsConfigMapKey
CIDR = r"([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/[0-9]{1,3})"
CAPABILITY = r"[A-Z][A-Z0-9_]*"
SYSCTL = r"[a-z0-9]([-_a-z0-9]*[a-z0-9])?([./][a-z0-9]([-_a-z0-9]*[a-z0-9])?)*"


def _cron_field(value: str, names: str = "", question: bool = False) -> str:
    """One field of a cron schedule: a list of ``*``, ``N`` or ``N-M``, each with an optional ``/step``."""
    number = f"({value}|(?i:{names}))" if names else f"({value})"
    atom = rf"(\*{'|[?]' if question else ''}|{number}(-{number})?)(/[0-9]+)?"
    return rf"{atom}(,{atom})*"


# validateScheduleFormat: what cron.ParseStandard accepts (robfig/cron), without a TZ= prefix
# (Kubernetes refuses it: spec.timeZone says that). Five fields, or a descriptor.
_FIVE_FIELDS = " +".join(
    [
        _cron_field(r"[0-5]?[0-9]"),
        _cron_field(r"[01]?[0-9]|2[0-3]"),
        _cron_field(r"0?[1-9]|[12][0-9]|3[01]", question=True),
        _cron_field(r"0?[1-9]|1[0-2]", "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"),
        _cron_field(r"[0-6]", "sun|mon|tue|wed|thu|fri|sat", question=True),
    ]
)
CRON = rf"(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(ns|us|ms|s|m|h))+|{_FIVE_FIELDS})"


def anchored(pattern: str) -> str:
    return f"^{pattern}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _when(condition: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {"if": condition, "then": then}


def _is(field: str, *values: str) -> dict[str, Any]:
    """``field`` is set to one of ``values``."""
    return {"required": [field], "properties": {field: {"enum": list(values)}}}


def _keyed(value: dict[str, Any]) -> dict[str, Any]:
    """A map keyed by qualified names (labels, annotations, resource names). Not propertyNames: helm 4
    reports a bad property name without saying where it is, an unknown key beside its parent's path."""
    return {"type": "object", "patternProperties": {anchored(QUALIFIED_NAME): value}, "additionalProperties": False}


LABEL_KEY_SCHEMA = {"type": "string", "pattern": anchored(QUALIFIED_NAME)}
LABEL_VALUE_SCHEMA = {"type": "string", "pattern": anchored(LABEL_VALUE)}
LABEL_MAP = _keyed(LABEL_VALUE_SCHEMA)
NON_EMPTY_LIST = {"type": "array", "minItems": 1}
NO_LIST = {"type": "array", "maxItems": 0}
WEIGHT = {"type": "integer", "minimum": 1, "maximum": 100}
ID = {"type": "integer", "minimum": 0, "maximum": 2147483647}

# Rules per definition, merged over what OpenAPI says: "properties" entries are merged into the
# property's schema, the other keywords added. Each mirrors a check of the API server.
RULES: dict[str, dict[str, Any]] = {
    # ValidateLabels, ValidateAnnotations (keys; the values of annotations are free text).
    f"{META}ObjectMeta.labels": LABEL_MAP,
    f"{META}ObjectMeta.annotations": _keyed({"type": "string"}),
    f"{CORE}PodSpec.nodeSelector": LABEL_MAP,
    # Names of other objects: DNS subdomains ("" where the chart leaves the field out).
    f"{CORE}PodSpec.priorityClassName": {"pattern": anchored(f"({DNS_SUBDOMAIN})?"), "maxLength": 253},
    f"{NETWORKING}IngressSpec.ingressClassName": {"pattern": anchored(f"({DNS_SUBDOMAIN})?"), "maxLength": 253},
    # ValidateIngressSpec: a host is a DNS name, "*." wildcard first allowed, never an IP address.
    f"{NETWORKING}IngressRule.host": {
        "pattern": anchored(rf"((\*\.)?{DNS_SUBDOMAIN})?"),
        "not": {"pattern": r"^[0-9.]+$"},
        "maxLength": 253,
    },
    f"{BATCH}CronJobSpec.schedule": {"pattern": anchored(CRON)},
    # validateTolerations: operator Equal or Exists; Exists takes no value; an empty key (every taint)
    # needs Exists; tolerationSeconds only with effect NoExecute; key and value are label syntax.
    f"{CORE}Toleration": {
        "properties": {
            "key": {"pattern": anchored(f"({QUALIFIED_NAME})?")},
            "operator": {"enum": ["Equal", "Exists"]},
            "value": {"pattern": anchored(LABEL_VALUE)},
            "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute", ""]},
        },
        "allOf": [
            _when(_is("operator", "Exists"), {"properties": {"value": {"const": ""}}}),
            _when({"not": _is("operator", "Exists")}, {"required": ["key"], "properties": {"key": {"minLength": 1}}}),
            _when({"required": ["tolerationSeconds"]}, _is("effect", "NoExecute")),
        ],
    },
    # ValidateLabelSelector: matchLabels are labels; In/NotIn need values, Exists/DoesNotExist take none.
    f"{META}LabelSelector": {"properties": {"matchLabels": LABEL_MAP}},
    f"{META}LabelSelectorRequirement": {
        "properties": {
            "key": LABEL_KEY_SCHEMA,
            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
            "values": {"items": LABEL_VALUE_SCHEMA},
        },
        "allOf": [
            _when(_is("operator", "In", "NotIn"), {"required": ["values"], "properties": {"values": NON_EMPTY_LIST}}),
            _when(_is("operator", "Exists", "DoesNotExist"), {"properties": {"values": NO_LIST}}),
        ],
    },
    # validateNodeSelectorRequirement: as above, plus Gt/Lt with exactly one integer.
    f"{CORE}NodeSelectorRequirement": {
        "properties": {
            "key": LABEL_KEY_SCHEMA,
            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
        },
        "allOf": [
            _when(_is("operator", "In", "NotIn"), {"required": ["values"], "properties": {"values": NON_EMPTY_LIST}}),
            _when(_is("operator", "Exists", "DoesNotExist"), {"properties": {"values": NO_LIST}}),
            _when(
                _is("operator", "Gt", "Lt"),
                {
                    "required": ["values"],
                    "properties": {"values": {"minItems": 1, "maxItems": 1, "items": {"pattern": "^-?[0-9]+$"}}},
                },
            ),
        ],
    },
    f"{CORE}NodeSelector": {"properties": {"nodeSelectorTerms": {"minItems": 1}}},
    f"{CORE}PreferredSchedulingTerm": {"properties": {"weight": WEIGHT}},
    f"{CORE}WeightedPodAffinityTerm": {"properties": {"weight": WEIGHT}},
    f"{CORE}PodAffinityTerm": {"properties": {"topologyKey": LABEL_KEY_SCHEMA}},
    # ValidatePodSecurityContext / ValidateSecurityContext: ids are non-negative 32-bit; enums.
    f"{CORE}PodSecurityContext": {
        "properties": {
            "runAsUser": ID,
            "runAsGroup": ID,
            "fsGroup": ID,
            "supplementalGroups": {"items": ID},
            "fsGroupChangePolicy": {"enum": ["OnRootMismatch", "Always"]},
        }
    },
    f"{CORE}SecurityContext": {
        "properties": {"runAsUser": ID, "runAsGroup": ID, "procMount": {"enum": ["Default", "Unmasked"]}}
    },
    f"{CORE}Capabilities": {
        "properties": {
            "add": {"items": {"pattern": anchored(CAPABILITY)}},
            "drop": {"items": {"pattern": anchored(CAPABILITY)}},
        }
    },
    # validateSeccompProfileField: a localhost profile only with type Localhost, and then required.
    f"{CORE}SeccompProfile": {
        "properties": {"type": {"enum": ["RuntimeDefault", "Localhost", "Unconfined"]}},
        "allOf": [
            _when(_is("type", "Localhost"), {"required": ["localhostProfile"]}),
            _when({"not": _is("type", "Localhost")}, {"not": {"required": ["localhostProfile"]}}),
        ],
    },
    f"{CORE}Sysctl": {"properties": {"name": {"pattern": anchored(SYSCTL)}}},
    # ValidateEnv: a valid name, and value or valueFrom, not both; valueFrom names exactly one source.
    f"{CORE}EnvVar": {
        "properties": {"name": {"pattern": anchored(ENV_NAME)}},
        "not": {"required": ["value", "valueFrom"]},
    },
    f"{CORE}EnvVarSource": {"minProperties": 1, "maxProperties": 1},
    f"{CORE}SecretKeySelector": {
        "required": ["name", "key"],
        "properties": {"name": {"pattern": anchored(DNS_SUBDOMAIN)}, "key": {"pattern": anchored(CONFIG_KEY)}},
    },
    f"{CORE}ConfigMapKeySelector": {
        "required": ["name", "key"],
        "properties": {"name": {"pattern": anchored(DNS_SUBDOMAIN)}, "key": {"pattern": anchored(CONFIG_KEY)}},
    },
    f"{CORE}ObjectFieldSelector": {"properties": {"apiVersion": {"const": "v1"}}},
    f"{CORE}ResourceFieldSelector": {
        "properties": {
            "resource": {
                "enum": [
                    "limits.cpu",
                    "limits.memory",
                    "limits.ephemeral-storage",
                    "requests.cpu",
                    "requests.memory",
                    "requests.ephemeral-storage",
                ]
            }
        }
    },
    # ValidateResourceRequirements: resource names are qualified names; amounts are quantities.
    f"{CORE}ResourceRequirements": {
        "properties": {"requests": _keyed(_ref(QUANTITY)), "limits": _keyed(_ref(QUANTITY))}
    },
    QUANTITY: {"oneOf": [{"type": "string", "pattern": anchored(QUANTITY_TEXT)}, {"type": "number", "minimum": 0}]},
    # ValidateNetworkPolicyPeer: at least one selector or an ipBlock, and an ipBlock alone.
    f"{NETWORKING}NetworkPolicyPeer": {
        "minProperties": 1,
        "allOf": [_when({"required": ["ipBlock"]}, {"maxProperties": 1})],
    },
    f"{NETWORKING}IPBlock": {
        "properties": {"cidr": {"pattern": anchored(CIDR)}, "except": {"items": {"pattern": anchored(CIDR)}}}
    },
}


# -- generation ----------------------------------------------------------------
def source_version() -> str:
    """The oldest Kubernetes version that kubernetes-validate ships and dlpipe-common admits."""
    from tools.chart_lint import kube_versions

    versions = kube_versions(CHARTS / "dlpipe-common")
    if not versions:
        raise ValueError("dlpipe-common's kubeVersion admits no Kubernetes version kubernetes-validate ships")
    return versions[0]


def upstream(version: str) -> dict[str, Any]:
    """kubernetes-validate's strict definitions for ``version``."""
    import importlib.resources

    bundle = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return json.loads((bundle / f"v{version}-local-strict" / "_definitions.json").read_text())["$defs"]


def _references(node: Any) -> set[str]:
    return set(re.findall(r'"#/\$defs/([^"]+)"', json.dumps(node)))


def lookup(definitions: dict[str, Any], name: str) -> Any:
    """A definition, or for ``<Type>.<field>`` the schema of that field."""
    if name in definitions:
        return definitions[name]
    owner, _, field = name.rpartition(".")
    try:
        return definitions[owner]["properties"][field]
    except KeyError:
        raise ValueError(f"Kubernetes has no definition {name}") from None


def closure(definitions: dict[str, Any], roots: list[str]) -> list[str]:
    found: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(_references(lookup(definitions, name)))
    return sorted(found)


def _plain(node: Any) -> Any:
    """Without what validation does not use (descriptions, x-kubernetes-*, format) and without null."""
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("description", "format") or key.startswith("x-kubernetes-"):
            continue
        if key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            value = kinds[0] if len(kinds) == 1 else kinds
        out[key] = _plain(value)
    return out


def _deep(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _deep(merged[key], value) if both else value
    return merged


def _merge(base: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in rule.items():
        if key == "properties":
            properties = dict(merged.get("properties", {}))
            for name, extra in value.items():
                if name not in properties:
                    raise ValueError(f"rule for unknown property {name}")
                current = properties[name]
                # draft-07 ignores keywords beside $ref: wrap the reference in allOf.
                properties[name] = {"allOf": [current, extra]} if "$ref" in current else _deep(current, extra)
            merged["properties"] = properties
        elif key == "oneOf" or "oneOf" not in merged:
            merged[key] = value
        else:
            raise ValueError(f"cannot merge {key}")
    return merged


def definitions(version: str | None = None) -> dict[str, Any]:
    """The generated ``$defs``: the closure of :data:`ROOTS`, plain, with :data:`RULES` applied."""
    source = upstream(version or source_version())
    out = {}
    for name in closure(source, ROOTS):
        plain = _plain(lookup(source, name))
        out[name] = _merge(plain, RULES[name]) if name in RULES else plain
    unused = set(RULES) - set(out)
    if unused:
        raise ValueError(f"rules for definitions outside the closure of ROOTS: {sorted(unused)}")
    return out


def render() -> str:
    version = source_version()
    document = {
        "$comment": (
            f"Generated by `python -m tools.chart_schemas` from the strict OpenAPI definitions of Kubernetes {version} "
            "that kubernetes-validate ships, with the API server's own checks added (tools/chart_kubernetes.py). "
            "Do not edit: a test fails when this file differs from what the generator writes."
        ),
        **definitions(version),
    }
    return json.dumps(document, indent=2) + "\n"


def drift() -> bool:
    return not KUBERNETES_DEFS.is_file() or KUBERNETES_DEFS.read_text() != render()


def main() -> int:
    KUBERNETES_DEFS.write_text(render())
    print(f"wrote {KUBERNETES_DEFS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
