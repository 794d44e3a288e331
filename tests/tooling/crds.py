"""Custom resources checked against their projects' own CRDs, vendored verbatim in
tests/charts/crds/<project>-<release>/ (each folder's README says from where): the served
version's ``openAPIV3Schema``, made strict as ``kubernetes-validate --strict`` is, with ``jsonschema``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

FOLDER = Path(__file__).parents[1] / "charts" / "crds"
CRDS = {
    "JobSet": "jobset-v0.12.0/jobset.x-k8s.io_jobsets.yaml",
    "TrainJob": "trainer-v2.3.0/trainer.kubeflow.org_trainjobs.yaml",
    "TrainingRuntime": "trainer-v2.3.0/trainer.kubeflow.org_trainingruntimes.yaml",
    "ClusterTrainingRuntime": "trainer-v2.3.0/trainer.kubeflow.org_clustertrainingruntimes.yaml",
    "ResourceFlavor": "kueue-v0.19.2/kueue.x-k8s.io_resourceflavors.yaml",
    "ClusterQueue": "kueue-v0.19.2/kueue.x-k8s.io_clusterqueues.yaml",
    "LocalQueue": "kueue-v0.19.2/kueue.x-k8s.io_localqueues.yaml",
    "WorkloadPriorityClass": "kueue-v0.19.2/kueue.x-k8s.io_workloadpriorityclasses.yaml",
    "HTTPRoute": "gateway-api-v1.3.0/gateway.networking.k8s.io_httproutes.yaml",
    "GRPCRoute": "gateway-api-v1.3.0/gateway.networking.k8s.io_grpcroutes.yaml",
}


def strict(node: Any) -> Any:
    """The schema with unknown fields refused, except where the CRD keeps them (preserve-unknown-fields)."""
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items()}
        keeps = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in node and "additionalProperties" not in node and not keeps:
            node["additionalProperties"] = False
    elif isinstance(node, list):
        node = [strict(v) for v in node]
    return node


@functools.cache
def crd(kind: str) -> dict[str, Any]:
    # libyaml's parser where PyYAML has it: the pure-Python one takes seconds for a CRD that embeds pod templates.
    return yaml.load((FOLDER / CRDS[kind]).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def api_versions(kind: str) -> list[str]:
    """``group/version`` of each version the CRD serves."""
    spec = crd(kind)["spec"]
    return [f"{spec['group']}/{v['name']}" for v in spec["versions"] if v.get("served")]


@functools.cache
def validator(kind: str, api_version: str) -> jsonschema.Draft7Validator:
    version = next(
        v for v in crd(kind)["spec"]["versions"] if f"{crd(kind)['spec']['group']}/{v['name']}" == api_version
    )
    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


def problems(doc: dict[str, Any]) -> list[str]:
    """What an API server with the CRD installed would refuse in ``doc``, by its schema; one line each."""
    kind = doc.get("kind")
    if kind not in CRDS:
        return [f"{kind}: no vendored CRD"]
    if doc.get("apiVersion") not in api_versions(kind):
        return [f"{kind}: apiVersion {doc.get('apiVersion')} is not served (served: {api_versions(kind)})"]
    found = validator(kind, doc["apiVersion"]).iter_errors(doc)
    return [f"{kind}/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
