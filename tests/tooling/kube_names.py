"""The names Kubernetes accepts for each kind, and for the labels it puts on what they create:
what kubernetes-validate cannot check (OpenAPI has no patterns for names), checked on rendered
manifests (``pkg/apis/core/validation``, ``apimachinery/pkg/util/validation``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label, 63 characters
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # a letter first: Services
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Kinds whose names must be DNS labels (a Service's DNS name; a Job's name is a label of its pods).
_LABEL_NAMED = {"Service": DNS_1035_LABEL, "Job": DNS_LABEL, "CronJob": DNS_LABEL}
_MAX = {"CronJob": 52}  # its Jobs are <name>-<11 digits of the scheduled time>


def _name_problems(kind: str, name: str) -> Iterator[str]:
    pattern = _LABEL_NAMED.get(kind, DNS_SUBDOMAIN)
    limit = _MAX.get(kind, 63 if kind in _LABEL_NAMED else 253)
    if not pattern.match(name):
        yield f"{kind} name {name!r} does not match {pattern.pattern}"
    if len(name) > limit:
        yield f"{kind} name {name!r} is {len(name)} characters, more than {limit}"


def problems(documents: list[dict[str, Any]]) -> list[str]:
    """Every name or label value in ``documents`` that the API server would refuse."""
    found: list[str] = []
    for doc in documents:
        kind, meta = doc["kind"], doc["metadata"]
        found += _name_problems(kind, meta["name"])
        templates = [doc.get("spec", {}).get("template", {}), doc.get("spec", {}).get("jobTemplate", {})]
        for labels in [meta.get("labels", {}), *(t.get("metadata", {}).get("labels", {}) for t in templates)]:
            found += [f"{kind}/{meta['name']}: label {k}={v!r}" for k, v in labels.items() if not _label_ok(v)]
        spec = doc.get("spec", {})
        if kind == "Job" and spec.get("completionMode") == "Indexed":
            host = f"{meta['name']}-{int(spec['completions']) - 1}"  # the pods' host names
            if len(host) > 63 or not DNS_LABEL.match(host):
                found.append(f"Job {meta['name']}: its last pod's host name {host!r} is not a DNS label")
    return found


def _label_ok(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and LABEL_VALUE.match(value) is not None
