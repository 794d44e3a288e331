"""The Pod Security Standards "restricted" profile, checked on rendered manifests,
plus dlpipe's own rules: a read-only root file system with a writable /tmp, no API token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_specs(documents: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(kind/name, pod spec)`` for every Pod and pod template in the manifests."""
    for doc in documents:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        spec = doc.get("spec", {})
        jobset = spec.get("template", {}).get("spec", {}) if doc["kind"].endswith("TrainingRuntime") else spec
        if doc["kind"] == "Pod":
            yield name, spec
        elif "replicatedJobs" in jobset:  # a JobSet, or the JobSet template of a (Cluster)TrainingRuntime
            for replicated in jobset["replicatedJobs"]:
                yield name, replicated["template"]["spec"]["template"]["spec"]
        elif "template" in spec:
            yield name, spec["template"]["spec"]
        elif "jobTemplate" in spec:
            yield name, spec["jobTemplate"]["spec"]["template"]["spec"]
        elif "tfReplicaSpecs" in spec:
            for replica in spec["tfReplicaSpecs"].values():
                yield name, replica["template"]["spec"]


def violations(pod: dict[str, Any]) -> list[str]:
    found = []
    pod_ctx = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        found.append("mounts a Kubernetes API token (nothing in dlpipe calls the API server)")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(f"{flag} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']} is of type {kinds}")
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        ctx = container.get("securityContext", {})
        who = f"container {container['name']}"
        if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
            found.append(f"{who}: runAsNonRoot is not true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            found.append(f"{who}: runs as uid 0")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{who}: seccompProfile is {seccomp}")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{who}: allowPrivilegeEscalation is not false")
        if ctx.get("privileged"):
            found.append(f"{who}: privileged")
        caps = ctx.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{who}: capabilities do not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{who}: adds capabilities {caps['add']}")
        if ctx.get("readOnlyRootFilesystem") is not True:
            found.append(f"{who}: root file system is writable")
        elif "/tmp" not in {m["mountPath"] for m in container.get("volumeMounts", [])}:
            found.append(f"{who}: read-only root without a writable /tmp")
    return found
