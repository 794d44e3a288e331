"""helm upgrade of dlpipe-serving to the next model version, under load: no request fails, a new
pod is Ready only once that version is AVAILABLE in it, and helm rollback brings the old one back.

Runs in the namespace where chart-testing ran the stage charts (--pipeline-namespace), on the
versions 1 and 2 of digits that dlpipe-evaluate's ci values published there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pykube
import pytest
from pytest_helm_charts.clusters import Cluster

from tests.cluster.conftest import Helm
from tests.cluster.traffic import ReadinessLog, RequestLoop, instance_from_metadata, poll
from tests.tooling import charts

pytestmark = pytest.mark.cluster
CHART = charts.CHARTS / "dlpipe-serving"
RELEASE = "rollout"
MODEL = "digits"
OLD, NEW = 1, 2
# ci/latest-values.yaml sized for kind, pinned to a version, two replicas so that a rolling update
# replaces pods one at a time while the other serves. The requests come through the API server's
# proxy, from the node, which no NetworkPolicy peer of the chart can name: the policy is off here
# (tests/charts/test_network_and_identity.py checks what it admits).
VALUES = ["--values", str(CHART / "ci" / "latest-values.yaml"), "--set", "replicaCount=2",
          "--set", "networkPolicy.enabled=false", "--set", "demo.enabled=false"]  # fmt: skip
STABLE = {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "stable"}


def _client(kubeconfig: str) -> pykube.HTTPClient:
    """A client of its own for each thread (requests' sessions are not meant to be shared)."""
    return pykube.HTTPClient(pykube.KubeConfig.from_file(kubeconfig), timeout=10)


def _service(path: str) -> str:
    return f"services/{RELEASE}-dlpipe-serving:rest/proxy/v1/models/{MODEL}{path}"  # the port named rest


def _call(api: pykube.HTTPClient, namespace: str, url: str, body: dict | None = None) -> dict:
    response = api.post(url=url, namespace=namespace, json=body) if body else api.get(url=url, namespace=namespace)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code} from {url}: {response.text[:200]}")
    return response.json()


def _sender(kubeconfig: str, namespace: str, row: dict) -> Callable[[], int]:
    """A prediction, then the version metadata says answers: two requests that must both succeed."""
    api = _client(kubeconfig)

    def send() -> int:
        answer = _call(api, namespace, _service(":predict"), {"instances": [row]})
        assert len(answer["predictions"]) == 1, answer
        return int(_call(api, namespace, _service("/metadata"))["model_spec"]["version"])

    return send


def _pods(api: pykube.HTTPClient, namespace: str) -> list[pykube.Pod]:
    return list(pykube.Pod.objects(api).filter(namespace=namespace, selector=STABLE))


def _ready(pod: pykube.Pod) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.obj["status"].get("conditions", []))


def _available(api: pykube.HTTPClient, namespace: str, pod: str, version: int) -> bool:
    url = f"pods/{pod}:8501/proxy/v1/models/{MODEL}/versions/{version}"
    try:
        states = _call(api, namespace, url)["model_version_status"]
    except (RuntimeError, ValueError, OSError):  # TF Serving not answering yet, or not that version
        return False
    return any(s["state"] == "AVAILABLE" for s in states)


def _watch(kubeconfig: str, namespace: str, old_hashes: set[str], version: int, stop: threading.Event,
           log: ReadinessLog) -> None:  # fmt: skip
    """Samples each pod of a new revision: Ready first, then whether `version` is AVAILABLE in it."""
    api = _client(kubeconfig)
    for _ in range(3000):  # twice a second at most: a bound of 25 min
        if stop.wait(0.5):
            return
        for pod in _pods(api, namespace):
            if pod.obj["metadata"]["labels"].get("pod-template-hash") not in old_hashes:
                ready = _ready(pod)
                log.record(pod.name, ready, _available(api, namespace, pod.name, version))


def _roll(helm: Helm, api: pykube.HTTPClient, change: Callable[[], None], version: int) -> ReadinessLog:
    """Runs `change` (a helm upgrade or rollback that waits) while watching the pods it starts."""
    old_hashes = {p.obj["metadata"]["labels"]["pod-template-hash"] for p in _pods(api, helm.namespace)}
    log, stop = ReadinessLog(), threading.Event()
    watcher = threading.Thread(target=_watch, args=(helm.kubeconfig, helm.namespace, old_hashes, version, stop, log))
    watcher.start()
    try:
        change()
    finally:
        stop.set()
        watcher.join(timeout=60)
    return log


def _settles_on(kubeconfig: str, namespace: str, row: dict, version: int) -> None:
    """Twenty answers in a row by `version` (a replaced pod leaves the Service a moment after helm returns)."""
    send = _sender(kubeconfig, namespace, row)
    poll(lambda: {send() for _ in range(20)} == {version}, timeout=120, what=f"only version {version} answering")


def test_upgrade_to_the_next_version_drops_no_request_and_rollback_returns(
    pipeline: Helm, kube_cluster: Cluster, proved: Callable[[str], None]
) -> None:
    helm, api = pipeline, kube_cluster.kube_client
    helm.install(RELEASE, CHART, *VALUES, "--set", f"model.version={OLD}")
    try:
        row = instance_from_metadata(_call(api, helm.namespace, _service("/metadata")))
        _settles_on(helm.kubeconfig, helm.namespace, row, OLD)
        loop = RequestLoop(_sender(helm.kubeconfig, helm.namespace, row)).start()
        try:
            upgrade = _roll(helm, api, lambda: helm.upgrade(RELEASE, CHART, *VALUES, "--set", f"model.version={NEW}"),
                            NEW)  # fmt: skip
            _settles_on(helm.kubeconfig, helm.namespace, row, NEW)
            during_upgrade = dict(loop.answers)
            rollback = _roll(helm, api, lambda: helm("rollback", RELEASE, "1", "--wait", "--timeout", "10m"), OLD)
            _settles_on(helm.kubeconfig, helm.namespace, row, OLD)
        finally:
            loop.stop()
    finally:
        helm("uninstall", RELEASE, "--wait", check=False)
    assert not loop.failures, f"{len(loop.failures)} of {loop.total} requests failed: {loop.failures[:5]}"
    assert set(loop.answers) == {OLD, NEW} and during_upgrade.get(NEW), loop.answers
    for name, log in (("upgrade", upgrade), ("rollback", rollback)):
        assert not log.violations, log.violations
        assert len(log.ready_pods) >= 2, f"{name}: saw {sorted(log.ready_pods)} of 2 new pods become Ready"
    proved(
        f"{loop.total} requests through helm upgrade {OLD}->{NEW} and helm rollback: 0 failed; "
        f"{len(upgrade.ready_pods) + len(rollback.ready_pods)} new pods Ready only with their version AVAILABLE"
    )
