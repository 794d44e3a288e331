"""dlpipe-train's multi-node backends: an Indexed Job, a JobSet, a Kubeflow Trainer v2 TrainJob
(with the chart's TrainingRuntime or a platform's) and the legacy TFJob, each with and without
Kueue. Custom resources are checked against their projects' own CRDs (tests/tooling/crds.py),
and the TF_CONFIG each worker builds is checked against the host names its controller gives it."""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlpipe.layout import CONFIG_FILE
from dlpipe.train.strategy import resolve_tf_config
from tests.tooling import charts, crds, pod_security
from tools.chart_lint import schema_problems

CHART = charts.CHARTS / "dlpipe-train"
BASE = {"sharedVolume": {"claimName": "data"}, "config": {"train": {"dataset": "digits"}}}
WORKLOAD = {"job": "Job", "jobset": "JobSet", "trainjob": "TrainJob", "tfjob": "TFJob"}
CHECKSUMS = {
    "jobset-v0.12.0/jobset.x-k8s.io_jobsets.yaml":
        "d022b87624512cf0b6741b31b24a2bea9945b5a838b50713af29332c878bb6fe",
    "trainer-v2.3.0/trainer.kubeflow.org_trainjobs.yaml":
        "a742cafc5b5582640c7e0b7467c024fc237256fbca5ba0a9f0531dfb66d64416",
    "trainer-v2.3.0/trainer.kubeflow.org_trainingruntimes.yaml":
        "69b8dbdf60a18e28cddcc2b8dfc4ce72a943e14b531b9389d593118faee4919f",
    "trainer-v2.3.0/trainer.kubeflow.org_clustertrainingruntimes.yaml":
        "ec84dc3388fcdbe8c61d3c247a773d14458dd9438e995bea8e50d2a18080eef9",
    "kueue-v0.19.2/kueue.x-k8s.io_resourceflavors.yaml":
        "19e339c47e9ca3fa2c9eeddd27715a512f765c4794ed859733408a9715720173",
    "kueue-v0.19.2/kueue.x-k8s.io_clusterqueues.yaml":
        "e0a5fc9b370c70f3d993d4f599865817338ecf94187b30b15b12ff33c579bd55",
    "kueue-v0.19.2/kueue.x-k8s.io_localqueues.yaml":
        "dd10ef8d3578e7212fa52763549e7b6be0949793a5b924495fcd293330109fed",
    "kueue-v0.19.2/kueue.x-k8s.io_workloadpriorityclasses.yaml":
        "0b755726aab05b8def9a53ee15b201eed3846bcffd1ff5528fed123f4ae03519",
}  # fmt: skip
# The labels JobSet puts on every pod it makes (jobset.sigs.k8s.io/..., api/jobset/v1alpha2).
JOBSET_LABEL = "jobset.sigs.k8s.io/"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _render(helm: str, values: dict[str, Any], release: str = "rel") -> list[dict[str, Any]]:
    text = charts.template_values(helm, CHART, _merge(BASE, values), release=release)
    return [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]


def _kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


def _hook(doc: dict[str, Any]) -> bool:
    return "helm.sh/hook" in doc["metadata"].get("annotations", {})


def _workers_pod(docs: list[dict[str, Any]], backend: str) -> tuple[dict[str, Any], int]:
    """The workers' pod template and how many pods the workload makes from it."""
    workload = _kind(docs, WORKLOAD[backend])
    if backend == "tfjob":
        worker = workload["spec"]["tfReplicaSpecs"]["Worker"]
        return worker["template"], worker["replicas"]
    if backend == "job":
        job = workload["spec"]
    else:
        spec = workload["spec"] if backend == "jobset" else _kind(docs, "TrainingRuntime")["spec"]["template"]["spec"]
        (replicated,) = spec["replicatedJobs"]
        assert replicated["replicas"] == 1, "the workers are the pods of one Job"
        job = replicated["template"]["spec"]
    if backend == "trainjob":  # Trainer sets the Job's parallelism and completions to numNodes
        assert workload["spec"]["trainer"]["numNodes"] == job["parallelism"] == job["completions"]
    return job["template"], job.get("parallelism", 1)


# -- the vendored definitions -------------------------------------------------------------------------------


def test_the_crds_are_the_released_ones() -> None:
    for name, digest in CHECKSUMS.items():
        assert hashlib.sha256((crds.FOLDER / name).read_bytes()).hexdigest() == digest, (
            f"{name} differs from its release"
        )
        readme = (crds.FOLDER / name.split("/")[0] / "README.md").read_text()
        assert digest in readme and name.split("/")[1] in readme
    # The Gateway API's are the serving chart's, checked in test_gateway_routes.py.
    assert set(CHECKSUMS) == {path for path in crds.CRDS.values() if not path.startswith("gateway-api-")}
    for kind in crds.CRDS:
        assert crds.crd(kind)["spec"]["names"]["kind"] == kind
    assert crds.api_versions("JobSet") == ["jobset.x-k8s.io/v1alpha2"]
    assert crds.api_versions("TrainJob") == ["trainer.kubeflow.org/v1alpha1"]
    assert "kueue.x-k8s.io/v1beta2" in crds.api_versions("ClusterQueue")


def test_the_checks_refuse_what_an_api_server_would(helm: str) -> None:
    jobset = _kind(_render(helm, {"distributed": {"workers": 2, "backend": "jobset"}}), "JobSet")
    assert crds.problems(jobset) == []

    def container(spec: dict[str, Any]) -> dict[str, Any]:
        return spec["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]

    for change, expected in [
        (lambda s: container(s).update(image=7), "is not of type"),
        (lambda s: container(s).update(volumeMount=[]), "Additional properties"),
        (lambda s: s["failurePolicy"]["rules"][0].update(action="Retry"), "is not one of"),
        (lambda s: s.update(replicas=2), "Additional properties"),
    ]:
        broken = yaml.safe_load(yaml.safe_dump(jobset))
        change(broken["spec"])
        assert any(expected in p for p in crds.problems(broken)), (expected, crds.problems(broken))
    assert "is not served" in crds.problems({**jobset, "apiVersion": "jobset.x-k8s.io/v1alpha1"})[0]


# -- every backend x workers x GPUs -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [*WORKLOAD, "trainjob-platform"])
def test_every_backend_renders_valid_resources_for_1_2_8_workers_and_0_1_4_gpus(helm: str, backend: str) -> None:
    platform = backend == "trainjob-platform"
    backend = backend.removesuffix("-platform")
    newest = charts.kube_versions(CHART)[-1]
    for workers, gpus in itertools.product((1, 2, 8), (0, 1, 4)):
        distributed: dict[str, Any] = {"workers": workers, "backend": backend}
        if platform:
            distributed["runtimeRef"] = {"name": "tensorflow-distributed"}
        docs = _render(helm, {"gpus": gpus, "distributed": distributed})
        where = f"{backend} {workers} workers x {gpus} GPUs"
        custom = [d for d in docs if d["kind"] in crds.CRDS or d["apiVersion"].startswith("kubeflow.org/")]
        assert [p for d in custom if d["kind"] in crds.CRDS for p in crds.problems(d)] == [], where
        assert list(schema_problems(docs, newest)) == [], where
        assert [v for _, spec in pod_security.pod_specs(docs) for v in pod_security.violations(spec)] == [], where
        workload = _kind(docs, WORKLOAD[backend])
        assert {d["kind"] for d in docs if d["kind"] in WORKLOAD.values()} == {WORKLOAD[backend]}, where
        assert ("Service" in {d["kind"] for d in docs if not _hook(d)}) == (backend == "job" and workers > 1), where
        test = next(d for d in docs if _hook(d))
        assert test["spec"]["containers"][0]["args"][:3] == ["export", "verify", workload["metadata"]["name"]], where
        if platform:
            trainer = workload["spec"]["trainer"]
            assert "TrainingRuntime" not in {d["kind"] for d in docs}
            assert trainer["numNodes"] == workers and trainer.get("resourcesPerNode", {}).get("limits", {}).get(
                "nvidia.com/gpu", 0) == gpus, where  # fmt: skip
            continue
        template, pods = _workers_pod(docs, backend)
        assert pods == workers, where
        (container,) = template["spec"]["containers"]
        assert container["resources"]["limits"].get("nvidia.com/gpu", 0) == gpus, where


@pytest.mark.parametrize("values", sorted(CHART.glob("*/*-values.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_values_file_renders_custom_resources_their_crds_accept(helm: str, values: Path) -> None:
    """What test_render_and_validate.py leaves to this file: the custom resources of ci/ and examples/."""
    docs = charts.template(helm, charts.ValuesCase(CHART, values))
    assert [p for d in docs if d["kind"] in crds.CRDS for p in crds.problems(d)] == []
    workloads = [d for d in docs if d["kind"] in WORKLOAD.values()]
    assert len(workloads) == 1, [d["kind"] for d in workloads]
    if values.name.startswith(("jobset", "trainjob")):
        assert workloads[0]["kind"] in crds.CRDS


def _resolve(env: list[dict[str, Any]], labels: dict[str, str], index: int) -> dict[str, str]:
    """The pod's environment as the kubelet makes it: fieldRefs to the pod's labels read, and
    JOB_COMPLETION_INDEX that Kubernetes sets in an Indexed Job's pods."""
    resolved = {"JOB_COMPLETION_INDEX": str(index)}
    for var in env:
        if "value" in var:
            resolved[var["name"]] = var["value"]
        elif "fieldRef" in var.get("valueFrom", {}):
            label = re.fullmatch(r"metadata\.labels\['(.+)'\]", var["valueFrom"]["fieldRef"]["fieldPath"])
            assert label, var
            resolved[var["name"]] = labels[label[1]]
    return resolved


@pytest.mark.parametrize("backend", ["job", "jobset", "trainjob", "trainjob-platform"])
def test_each_worker_builds_tf_config_from_the_host_names_its_controller_gives_it(helm: str, backend: str) -> None:
    """What each pod computes from its environment is the cluster its controller really makes:
    an Indexed Job's pods <job>-<index>.<service subdomain>; a JobSet's (and a TrainJob's, whose
    JobSet is named after it) <jobset>-<replicated job>-<job index>-<pod index>.<subdomain>."""
    platform = backend == "trainjob-platform"
    backend = backend.removesuffix("-platform")
    distributed: dict[str, Any] = {"workers": 3, "backend": backend, "port": 23456}
    if platform:
        distributed["runtimeRef"] = {"name": "tf", "kind": "TrainingRuntime"}
    docs = _render(helm, {"distributed": distributed})
    workload = _kind(docs, WORKLOAD[backend])
    name = workload["metadata"]["name"]
    train = yaml.safe_load(_kind(docs, "ConfigMap")["data"][CONFIG_FILE])["train"]
    if backend == "job":
        service = _kind(docs, "Service")
        template = workload["spec"]["template"]
        subdomain = template["spec"]["subdomain"]
        assert subdomain == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
        hosts = [f"{name}-{i}.{subdomain}" for i in range(3)]
        labels = {"batch.kubernetes.io/job-name": name}
        env = template["spec"]["containers"][0]["env"]
    else:
        if platform:  # the platform's runtime runs Trainer's "node" job; the env is the TrainJob's
            replicated, env, network = "node", workload["spec"]["trainer"]["env"], {}
        else:
            spec = (
                workload["spec"] if backend == "jobset" else _kind(docs, "TrainingRuntime")["spec"]["template"]["spec"]
            )
            replicated, network = spec["replicatedJobs"][0]["name"], spec["network"]
            pod = spec["replicatedJobs"][0]["template"]["spec"]["template"]
            env = pod["spec"]["containers"][0]["env"]
            assert network["enableDNSHostnames"] is True and "subdomain" not in pod["spec"]
        subdomain = network.get("subdomain", name)  # JobSet's default: the JobSet's name
        hosts = [f"{name}-{replicated}-0-{i}.{subdomain}" for i in range(3)]
        labels = {JOBSET_LABEL + "jobset-name": name, JOBSET_LABEL + "replicatedjob-name": replicated,
                  JOBSET_LABEL + "job-index": "0"}  # fmt: skip
    for index in range(3):
        environ = _resolve(env, labels, index)
        assert environ["DLPIPE_RUN_ID"] == name, "every worker and every restart works on the run the helm test checks"
        tf_config = resolve_tf_config(train, environ)
        assert tf_config == {
            "cluster": {"worker": [f"{host}:23456" for host in hosts]},
            "task": {"type": "worker", "index": index},
        }


def test_the_worker_port_is_the_one_the_network_policy_opens(helm: str) -> None:
    for backend in ("jobset", "trainjob"):
        docs = _render(helm, {"distributed": {"workers": 2, "backend": backend}})
        name = _kind(docs, WORKLOAD[backend])["metadata"]["name"]
        policy = next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == name)
        selector = {JOBSET_LABEL + "jobset-name": name}
        assert policy["spec"]["podSelector"]["matchLabels"] == selector
        assert policy["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": selector}}]
        template, _ = _workers_pod(docs, backend)
        assert template["spec"]["containers"][0]["ports"] == [{"name": "worker", "containerPort": 2222}]


def test_a_gang_restarts_together_and_succeeds_with_worker_0(helm: str) -> None:
    values = {
        "distributed": {"workers": 4, "backend": "jobset", "maxRestarts": 5},
        "job": {"activeDeadlineSeconds": 86400},
    }
    jobset = _kind(_render(helm, values), "JobSet")["spec"]
    job = jobset["replicatedJobs"][0]["template"]["spec"]
    assert job["backoffLimit"] == 0, "one failed worker fails the Job, and JobSet restarts every worker"
    assert jobset["failurePolicy"]["maxRestarts"] == 5
    assert jobset["failurePolicy"]["rules"] == [
        {
            "name": "NotRetriable",
            "action": "FailJobSet",
            "onJobFailureReasons": ["PodFailurePolicy", "DeadlineExceeded"],
        }
    ]
    exit_codes = job["podFailurePolicy"]["rules"][1]
    assert exit_codes["action"] == "FailJob" and 2 in exit_codes["onExitCodes"]["values"], "a bad config fails at once"
    assert job["successPolicy"] == {"rules": [{"succeededIndexes": "0"}]}
    assert jobset["successPolicy"] == {"operator": "All", "targetReplicatedJobs": ["worker"]}
    assert job["activeDeadlineSeconds"] == 86400
    old = charts.run_helm(helm, "template", "rel", str(CHART), "--kube-version", "1.29.0",
                          "--values", str(charts.values_file(_merge(BASE, values)))).stdout  # fmt: skip
    assert "successPolicy:\n            rules" not in old, "Jobs have no successPolicy before Kubernetes 1.31"


def test_long_release_names_keep_jobset_names_within_63_characters(helm: str) -> None:
    release = "a-release-name-that-is-long-" + "x" * 25
    for backend in ("jobset", "trainjob"):
        docs = _render(helm, {"distributed": {"workers": 1024, "backend": backend}}, release=release)
        name = _kind(docs, WORKLOAD[backend])["metadata"]["name"]
        replicated = "worker" if backend == "jobset" else "node"
        # JobSet's webhook: the longest pod name, with its 5 random characters, is a DNS-1035 label.
        longest = f"{name}-{replicated}-0-1023-abcde"
        assert len(longest) <= 63 and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", longest), longest
        assert name.startswith("a-release-name"), "the release stays recognisable"
    name = _kind(_render(helm, {"distributed": {"backend": "trainjob"}}, release="9lives"), "TrainJob")["metadata"][
        "name"
    ]
    assert (
        crds.problems(
            {**_kind(_render(helm, {"distributed": {"backend": "trainjob"}}), "TrainJob"), "metadata": {"name": name}}
        )
        == []
    )
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), "TrainJob's own rule on its name (CEL)"


# -- Kueue ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [*WORKLOAD, "trainjob-platform"])
def test_kueue_queues_every_backend_suspended_with_its_priority(helm: str, backend: str) -> None:
    platform = backend == "trainjob-platform"
    backend = backend.removesuffix("-platform")
    distributed: dict[str, Any] = {"workers": 2, "backend": backend}
    if platform:
        distributed["runtimeRef"] = {"name": "tf"}
    kueue = {"queueName": "team-a-gpus", "priorityClass": "research"}
    # A platform's runtime keeps its own priority class (Trainer cannot patch it): the chart refuses one.
    docs = _render(helm, {"distributed": distributed, "kueue": kueue, "priorityClassName": "" if platform else "high"})
    workload = _kind(docs, WORKLOAD[backend])
    assert crds.problems(workload) == [] if workload["kind"] in crds.CRDS else True
    labels = workload["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "team-a-gpus"
    assert labels["kueue.x-k8s.io/priority-class"] == "research"
    spec = workload["spec"]["runPolicy"] if backend == "tfjob" else workload["spec"]
    assert spec["suspend"] is True, "created suspended: Kueue starts every worker at once, when admitted"
    if not platform:
        template, _ = _workers_pod(docs, backend)
        assert template["spec"]["priorityClassName"] == "high"
    plain = _kind(_render(helm, {"distributed": distributed}), WORKLOAD[backend])
    assert not {k for k in plain["metadata"]["labels"] if k.startswith("kueue.x-k8s.io/")}
    assert "suspend" not in (plain["spec"]["runPolicy"] if backend == "tfjob" else plain["spec"])


def test_continuous_training_queues_each_scheduled_job_and_a_queue_change_is_a_new_run(helm: str) -> None:
    queued = _render(helm, {"continuous": {"enabled": True}, "kueue": {"queueName": "team-a-gpus"}})
    labels = _kind(queued, "CronJob")["spec"]["jobTemplate"]["metadata"]["labels"]
    assert labels == {"kueue.x-k8s.io/queue-name": "team-a-gpus"}, "Kueue admits each tick's Job"
    assert "metadata" not in _kind(_render(helm, {"continuous": {"enabled": True}}), "CronJob")["spec"]["jobTemplate"]
    # Kueue refuses a changed queue label on a workload it admitted: a new queue is a new Job.
    names = {_kind(_render(helm, {"kueue": {"queueName": q}}), "Job")["metadata"]["name"] for q in ("a", "b")}
    assert len(names) == 2


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        (
            {"distributed": {"backend": "jobset", "runtimeRef": {"name": "tf"}}},
            ["distributed.runtimeRef.name", "backend"],
        ),
        ({"kueue": {"priorityClass": "research"}}, ["kueue.priorityClass", "kueue.queueName"]),
        (
            {"distributed": {"backend": "trainjob", "runtimeRef": {"name": "tf"}}, "priorityClassName": "high"},
            ["priorityClassName", "distributed.runtimeRef.name"],
        ),
        (
            {"distributed": {"backend": "trainjob", "runtimeRef": {"name": "tf"}}, "waitFor": {"enabled": True}},
            ["waitFor.enabled", "distributed.runtimeRef.name"],
        ),
        ({"kueue": {"queueName": "a queue"}}, ["queueName"]),
        ({"distributed": {"backend": "mpijob"}}, ["backend"]),
        ({"distributed": {"runtimeRef": {"kind": "Runtime"}}}, ["kind"]),
    ],
    ids=lambda v: None if isinstance(v, dict) else v[0],
)
def test_values_that_cannot_work_fail_naming_the_fields(helm: str, values: dict[str, Any], fields: list[str]) -> None:
    message = charts.refusal(helm, CHART, _merge(BASE, values))
    assert all(field in message for field in fields), message


def _doc_blocks(path: Path) -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.DOTALL)
    return [d for block in blocks for d in yaml.safe_load_all(block) if d]


def test_the_documented_platform_runtime_takes_the_charts_trainjob(helm: str) -> None:
    """docs/multi-node-training.md's ClusterTrainingRuntime is valid for Trainer, and has what the chart's
    TrainJob overrides and patches: Trainer's "node" replicated Job (marked as the trainer's) and container."""
    (runtime,) = [
        d for d in _doc_blocks(charts.REPO / "docs" / "multi-node-training.md") if d["kind"].endswith("Runtime")
    ]
    assert crds.problems(runtime) == []
    docs = _render(helm, {"distributed": {"workers": 2, "backend": "trainjob", "runtimeRef": {"name": "x"}}})
    trainjob = _kind(docs, "TrainJob")
    assert trainjob["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org", "kind": runtime["kind"], "name": "x"
    }  # fmt: skip
    jobs = {job["name"]: job for job in runtime["spec"]["template"]["spec"]["replicatedJobs"]}
    assert jobs["node"]["template"]["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    (patch,) = trainjob["spec"]["runtimePatches"]
    for job in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
        has = {c["name"] for c in jobs[job["name"]]["template"]["spec"]["template"]["spec"]["containers"]}
        wants = {c["name"] for c in job["template"]["spec"]["template"]["spec"]["containers"]}
        assert wants <= has == {"node"}, "Trainer patches only containers the runtime has"
    assert jobs["node"]["template"]["spec"]["completionMode"] == "Indexed", "JOB_COMPLETION_INDEX and host names"


def test_the_documented_kueue_objects_are_valid_and_admit_the_chart(helm: str) -> None:
    """docs/multi-node-training.md's ResourceFlavor, ClusterQueue and LocalQueue validate against
    Kueue's CRDs, cover the resources a GPU run requests, and the chart's queue label names them."""
    objects = {
        d["kind"]: d for d in _doc_blocks(charts.REPO / "docs" / "multi-node-training.md") if "kueue" in d["apiVersion"]
    }
    assert {"ResourceFlavor", "ClusterQueue", "LocalQueue"} <= set(objects)
    for doc in objects.values():
        assert crds.problems(doc) == [], doc["kind"]
    queue, local, flavor = objects["ClusterQueue"], objects["LocalQueue"], objects["ResourceFlavor"]
    assert local["spec"]["clusterQueue"] == queue["metadata"]["name"]
    (group,) = queue["spec"]["resourceGroups"]
    assert group["flavors"][0]["name"] == flavor["metadata"]["name"]
    covered = set(group["coveredResources"])
    docs = _render(helm, {"gpus": 1, "distributed": {"workers": 2, "backend": "jobset"},
                          "kueue": {"queueName": local["metadata"]["name"]}})  # fmt: skip
    template, _ = _workers_pod(docs, "jobset")
    resources = template["spec"]["containers"][0]["resources"]
    assert set(resources["requests"]) | set(resources["limits"]) <= covered, "Kueue admits only covered resources"
    assert {"cpu", "memory", "nvidia.com/gpu"} <= covered
