"""dlpipe-ingest on a real cluster: the Job publishes digits and helm test verifies it; helm
upgrade (unchanged, then with a changed configuration) and helm rollback leave the finished Job
alone: the same object, still Complete, its pod never run again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pykube
import pytest
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.utils import wait_for_objects_condition

from tests.cluster.conftest import Helm, job_done, job_failed
from tests.tooling import charts

pytestmark = pytest.mark.cluster
CHART = charts.CHARTS / "dlpipe-ingest"
VALUES = ["--values", str(CHART / "ci" / "kind-values.yaml")]


def _jobs(api: pykube.HTTPClient, namespace: str) -> dict[str, pykube.Job]:
    jobs = pykube.Job.objects(api).filter(namespace=namespace, selector={"app.kubernetes.io/instance": "ingest"})
    return {job.name: job for job in jobs}


def _state(api: pykube.HTTPClient, namespace: str, name: str) -> tuple[str, bool, frozenset[str]]:
    """A Job as the test compares it: its uid, whether it is Complete, the uids of its pods."""
    job = _jobs(api, namespace)[name]
    pods = pykube.Pod.objects(api).filter(namespace=namespace, selector={"batch.kubernetes.io/job-name": name})
    return job.obj["metadata"]["uid"], job_done(job), frozenset(pod.obj["metadata"]["uid"] for pod in pods)


def test_upgrades_and_rollback_leave_the_finished_job_alone(
    helm_in_namespace: Helm, kube_cluster: Cluster, storage_values: Path, proved: Callable[[str], None]
) -> None:
    helm, api, namespace = helm_in_namespace, kube_cluster.kube_client, helm_in_namespace.namespace
    helm.install("data", charts.CHARTS / "dlpipe-storage", "--values", str(storage_values))
    helm.install("ingest", CHART, *VALUES)
    [name] = _jobs(api, namespace)
    wait_for_objects_condition(api, pykube.Job, [name], namespace, job_done, 900, False, job_failed)
    helm("test", "ingest", "--timeout", "10m")
    finished = _state(api, namespace, name)
    assert finished[1] and finished[2], "a Complete Job with its pod"

    helm.upgrade("ingest", CHART, *VALUES)
    assert set(_jobs(api, namespace)) == {name}, "an unchanged upgrade starts no Job"
    assert _state(api, namespace, name) == finished

    helm.upgrade("ingest", CHART, *VALUES, "--set", "config.ingest.shards=2")
    jobs = set(_jobs(api, namespace))
    assert name in jobs and len(jobs) == 2, f"a changed configuration runs a Job of its own: {jobs}"
    assert _state(api, namespace, name) == finished, "the finished Job is not touched"

    helm("rollback", "ingest", "1", "--wait", "--timeout", "10m")
    assert _state(api, namespace, name) == finished, "rolling back does not run the finished Job again"
    proved(f"ingest Job {name}: the same Complete object, its pod never re-run, through 2 upgrades and a rollback")
