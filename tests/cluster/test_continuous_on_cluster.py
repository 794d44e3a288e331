"""dlpipe-evaluate's continuous mode on a real cluster: the CronJob of ci/continuous-values.yaml,
as written, evaluates a run that finished after it was installed, blesses it and publishes it
(the third version of digits, which the serving chart's ci/latest-values.yaml then follows).

Runs in the namespace where chart-testing ran the stage charts (--pipeline-namespace): its dataset
digits, and every earlier run evaluated already, so the new run is the only one pending.
"""

from __future__ import annotations

from collections.abc import Callable

import pykube
import pytest
import yaml
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.utils import wait_for_objects_condition

from tests.cluster.conftest import Helm, job_done, job_failed
from tests.cluster.traffic import poll
from tests.tooling import charts
from tools.charts import package_version

pytestmark = pytest.mark.cluster
TRAIN = charts.CHARTS / "dlpipe-train"
EVALUATE = charts.CHARTS / "dlpipe-evaluate"
RUN = "digits-continuous-ci"
CLAIM = "data-dlpipe-storage"


def _scheduled_jobs(api: pykube.HTTPClient, namespace: str, cronjob: str) -> list[pykube.Job]:
    return [
        job
        for job in pykube.Job.objects(api).filter(namespace=namespace)
        if any(o["kind"] == "CronJob" and o["name"] == cronjob for o in job.obj["metadata"].get("ownerReferences", []))
    ]


def _blessing_check(api: pykube.HTTPClient, namespace: str) -> pykube.Job:
    """A Job running `dlpipe blessing show RUN --require-blessed` on the volume, read-only."""
    restricted = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                  "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    container = {
        "name": "blessing",
        "image": f"dlpipe/dlpipe-evaluate:{package_version()}",
        "imagePullPolicy": "IfNotPresent",
        "args": ["blessing", "show", RUN, "--require-blessed", "--root=/data"],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    return pykube.Job(api, {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "blessing-check-", "namespace": namespace},
        "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600, "template": {"spec": {
            "restartPolicy": "Never",
            "securityContext": restricted,
            "containers": [container],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": CLAIM, "readOnly": True}},
                        {"name": "tmp", "emptyDir": {}}],
        }}},
    })  # fmt: skip


def test_one_scheduled_evaluation_blesses_and_publishes_a_new_run(
    pipeline: Helm, kube_cluster: Cluster, proved: Callable[[str], None]
) -> None:
    helm, api, namespace = pipeline, kube_cluster.kube_client, pipeline.namespace
    helm.install("continuous-run", TRAIN, "--values", str(TRAIN / "ci" / "single-values.yaml"),
                 "--set", f"config.run_id={RUN}")  # fmt: skip
    try:
        helm("test", "continuous-run", "--timeout", "15m")  # the run's export is in place
        # Installed only now, so that every scheduled Job finds the run finished and pending.
        helm.install("continuous", EVALUATE, "--values", str(EVALUATE / "ci" / "continuous-values.yaml"))
        manifests = yaml.safe_load_all(helm("get", "manifest", "continuous").stdout)
        [cronjob] = [d["metadata"]["name"] for d in manifests if d and d["kind"] == "CronJob"]
        poll(lambda: any(job_done(j) for j in _scheduled_jobs(api, namespace, cronjob)), timeout=600, every=5,
             what=f"a Job of CronJob {cronjob} to succeed")  # fmt: skip
        failed = [j.name for j in _scheduled_jobs(api, namespace, cronjob) if job_failed(j)]
        assert not failed, f"scheduled evaluations failed (exit 3: not blessed): {failed}"
        check = _blessing_check(api, namespace)
        check.create()
        wait_for_objects_condition(api, pykube.Job, [check.name], namespace, job_done, 300, False, job_failed)
    finally:
        helm("uninstall", "continuous", "--wait", check=False)
        helm("uninstall", "continuous-run", "--wait", check=False)
    proved(f"CronJob {cronjob}'s scheduled Job evaluated run {RUN}, which `blessing show --require-blessed` confirms")
