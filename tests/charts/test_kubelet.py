"""tests/tooling/kubelet.py on small hand-written manifests: each feature, and each refusal."""

from __future__ import annotations

import base64
import copy
import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.tooling import kubelet
from tests.tooling.kubelet import Cluster, PodFailed, Refused
from tests.tooling.net import free_port

IMAGE = "dlpipe/dlpipe-train:0.1.0"


def container(*args: str, name: str = "main", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "args": list(args), **fields}


def data_mount(path: str = "/data", **fields: Any) -> dict[str, Any]:
    return {"name": "data", "mountPath": path, **fields}


CLAIM = {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}


def job(name: str, *containers: dict[str, Any], volumes: list[dict[str, Any]] | None = None, **spec: Any) -> dict:
    pod = {"restartPolicy": "Never", "containers": list(containers), "volumes": volumes or [CLAIM]}
    template = {"metadata": {"labels": {"app": name}}, "spec": {**pod, **spec.pop("pod", {})}}
    return {"kind": "Job", "metadata": {"name": name, "namespace": "ml"}, "spec": {"template": template, **spec}}


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    (tmp_path / "volume").mkdir()
    with Cluster(tmp_path / "volume", work_dir=tmp_path / "pods", timeout=60) as running:
        yield running


def test_images_are_the_dockerfiles_stage_targets() -> None:
    images = kubelet.dockerfile_images()
    assert set(images) == {f"dlpipe/dlpipe-{s}" for s in ("storage", "ingest", "train", "evaluate", "serving")}
    assert images["dlpipe/dlpipe-ingest"].entrypoint == ("dlpipe",)
    assert images["dlpipe/dlpipe-ingest"].cmd == ("ingest", "--help")
    assert ("HOME", "/tmp") in images["dlpipe/dlpipe-train"].env


def test_a_job_gets_its_config_files_env_and_volume(cluster: Cluster, tmp_path: Path) -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s3"}, "data": {"url": base64.b64encode(b"http://s3.ml").decode()}}
    main = container(
        "config",
        "--config=/etc/dlpipe/config.yaml",
        "--root=/data",
        env=[
            {"name": "DLPIPE_RUN_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}},
            {"name": "DLPIPE_S3__ENDPOINT_URL", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "url"}}},
            {"name": "DLPIPE_TRAIN__MODEL", "valueFrom": {"configMapKeyRef": {"name": "env", "key": "model"}}},
        ],
        envFrom=[{"configMapRef": {"name": "batch"}, "prefix": "DLPIPE_TRAIN__"}],
        volumeMounts=[data_mount(), {"name": "config", "mountPath": "/etc/dlpipe", "readOnly": True}],
    )
    volumes = [CLAIM, {"name": "config", "configMap": {"name": "cfg"}}]
    cluster.apply(
        [
            config_map("cfg", **{"config.yaml": "train:\n  epochs: 7\n"}),
            config_map("env", model="cnn"),
            config_map("batch", BATCH_SIZE="32"),
            secret,
            job("j", main, volumes=volumes),
        ]
    )
    assert cluster.run_jobs() == ["j"]
    shown = cluster.log("Job/j", "main")
    for line in ("run_id: j", "epochs: 7", "model: cnn", "batch_size: 32", "endpoint_url: http://s3.ml"):
        assert line in shown
    assert f"root: {(tmp_path / 'volume').resolve()}" in shown
    assert cluster.run_jobs() == []  # a Job runs once


def test_no_args_runs_the_images_cmd(cluster: Cluster) -> None:
    bare = {"name": "main", "image": "dlpipe/dlpipe-storage:0.1.0"}
    cluster.apply([job("help", bare, volumes=[])])
    cluster.run_jobs()
    assert "usage: dlpipe" in cluster.log("Job/help", "main")  # the storage target's CMD: --help


def test_an_indexed_job_runs_a_pod_per_completion_index(cluster: Cluster, tmp_path: Path) -> None:
    index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    main = container(
        "config",
        "--root=/data/$(JOB_COMPLETION_INDEX)",
        volumeMounts=[data_mount()],
        env=[
            {"name": "INDEX", "valueFrom": {"fieldRef": {"fieldPath": index}}},
            {"name": "DLPIPE_RUN_ID", "value": "run-$(INDEX)"},
        ],
    )
    cluster.apply([job("idx", main, completionMode="Indexed", completions=2, parallelism=2)])
    cluster.run_jobs()
    for i in (0, 1):
        assert f"run_id: run-{i}\n" in cluster.log("Job/idx", "main", i)
        assert f"root: {(tmp_path / 'volume').resolve()}/{i}\n" in cluster.log("Job/idx", "main", i)


def test_variables_expand_as_kubernetes_expands_them() -> None:
    assert kubelet._expand("$$(A)-$(A)-$(B)", {"A": "1"}) == "$(A)-1-$(B)"


def test_a_failed_init_container_stops_the_pod_with_its_last_lines(cluster: Cluster, tmp_path: Path) -> None:
    init = container(
        "config",
        "--config=/etc/extra/missing.yaml",
        name="init",
        volumeMounts=[{"name": "extra", "mountPath": "/etc/extra"}],
    )
    main = container("config", "--root=/data", volumeMounts=[data_mount()])
    volumes = [CLAIM, {"name": "extra", "emptyDir": {}}]
    cluster.apply([job("fails", main, volumes=volumes, pod={"initContainers": [init]})])
    with pytest.raises(PodFailed, match=r"Job/fails pod .* container init \(init\) exited 2(.|\n)*missing.yaml"):
        cluster.run_jobs()
    assert not list((tmp_path / "pods").glob("*/main.log"))


def test_a_sub_path_mount_is_that_folder_and_read_only_mounts_refuse_writes(cluster: Cluster, tmp_path: Path) -> None:
    writes = container(
        "volume",
        "init",
        "--root=/data/models",
        volumeMounts=[data_mount("/data/models", subPath="models", readOnly=True)],
    )
    cluster.apply([job("ro", writes)])
    with pytest.raises(PodFailed, match="Read-only file system"):
        cluster.run_jobs()
    assert (tmp_path / "volume" / "models").is_dir()  # the kubelet makes a missing subPath
    assert not list((tmp_path / "volume" / "models").iterdir())
    writable = copy.deepcopy(writes)
    del writable["volumeMounts"][0]["readOnly"]
    cluster.apply([job("rw", writable)])
    cluster.run_jobs()
    assert (tmp_path / "volume" / "models" / "datasets").is_dir()


def test_projected_files_and_a_sidecar_that_stops_with_the_job(cluster: Cluster, tmp_path: Path) -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"run": "run-id: from-secret\n"}}
    projected = {"name": "cfg", "projected": {"sources": [
        {"configMap": {"name": "c", "items": [{"key": "train", "path": "config.yaml"}]}},
        {"secret": {"name": "s", "items": [{"key": "run", "path": "deep/run.yaml"}]}},
    ]}}  # fmt: skip
    sidecar = container("serving-ready", "--tf-serving=http://127.0.0.1:9", f"--port={free_port()}",
                        "--model=m=1", name="side", restartPolicy="Always")  # fmt: skip
    main = container("config", "--config=/etc/cfg/config.yaml", "--root=/data",
                     volumeMounts=[data_mount(), {"name": "cfg", "mountPath": "/etc/cfg"}])  # fmt: skip
    cluster.apply([config_map("c", train="train:\n  epochs: 3\n"), secret,
                   job("p", main, volumes=[CLAIM, projected], pod={"initContainers": [sidecar]})])  # fmt: skip
    cluster.run_jobs()
    assert "epochs: 3" in cluster.log("Job/p", "main")
    files = tmp_path / "pods" / cluster.pods["Job/p"][0].name / "volumes" / "cfg"
    assert (files / "deep" / "run.yaml").read_text() == "run-id: from-secret\n"
    side = cluster.pods["Job/p"][0].processes["side"]
    assert side.returncode == -signal.SIGTERM  # still running when the Job ended it


def test_a_cronjob_runs_one_scheduled_job_on_demand(cluster: Cluster) -> None:
    main = container(
        "config",
        "--root=/data",
        volumeMounts=[data_mount()],
        env=[{"name": "DLPIPE_RUN_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    )
    template = job("x", main)
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ml"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": template["spec"]}},
    }
    cluster.apply([cron])
    name = cluster.run_cronjob("nightly", job_name="nightly-29000000")
    assert f"run_id: {name}-" in cluster.log(f"Job/{name}", "main")  # the pod's name: the Job's and a suffix


@pytest.fixture
def fake_tf_serving() -> Iterator[int]:
    """A REST endpoint answering TF Serving's model status: version 1 AVAILABLE."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"model_version_status": [{"version": "1", "state": "AVAILABLE"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def ready_deployment(name: str, tf_serving: str, port: int) -> dict[str, Any]:
    sidecar = {
        "name": "ready",
        "image": "dlpipe/dlpipe-serving:0.1.0",
        "args": ["serving-ready", f"--tf-serving={tf_serving}", f"--port={port}", "--model=digits=latest"],
        "ports": [{"name": "ready", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "ready"}},
    }
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [sidecar]}}
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ml"},
        "spec": {"replicas": 3, "template": template},
    }


def service(name: str, port: int, target: int | str | None = None) -> dict[str, Any]:
    ports = [{"port": port, "targetPort": port if target is None else target}]
    return {"kind": "Service", "metadata": {"name": name, "namespace": "ml"}, "spec": {"ports": ports}}


def test_a_deployment_is_ready_through_a_services_name(cluster: Cluster, fake_tf_serving: int) -> None:
    port = free_port()
    cluster.apply(
        [
            service("tf", fake_tf_serving),
            ready_deployment("ready", f"http://tf.ml.svc.cluster.local:{fake_tf_serving}", port),
        ]
    )
    pod = cluster.start("ready")
    assert list(pod.processes) == ["ready"]  # one replica
    cluster.apply([ready_deployment("again", "http://tf:1", port)])
    with pytest.raises(Refused, match=rf"Deployment/again: ports \[{port}\] are held by Deployment/ready"):
        cluster.start("again")


def test_a_name_no_service_declares_does_not_resolve(tmp_path: Path, fake_tf_serving: int) -> None:
    (tmp_path / "volume").mkdir()
    with Cluster(tmp_path / "volume", work_dir=tmp_path / "pods", timeout=3) as cluster:
        cluster.apply([ready_deployment("ready", f"http://tf:{fake_tf_serving}", free_port())])
        with pytest.raises(PodFailed, match="not ready after 3s"):
            cluster.start("ready")


def test_a_deployment_that_exits_before_it_is_ready_fails_with_its_last_lines(cluster: Cluster) -> None:
    deployment = ready_deployment("gone", "http://tf:1", free_port())
    deployment["spec"]["template"]["spec"]["containers"][0]["args"].append("--no-such-flag")
    cluster.apply([deployment])
    with pytest.raises(PodFailed, match=r"container ready exited 2 before the pod was ready(.|\n)*--no-such-flag"):
        cluster.start("gone")
    assert not cluster.running


def test_helm_test_pods_run_once_each_by_weight(cluster: Cluster) -> None:
    def test_pod(name: str, weight: str) -> dict[str, Any]:
        annotations = {"helm.sh/hook": "test", "helm.sh/hook-weight": weight}
        spec = {
            "restartPolicy": "Never",
            "containers": [container("config", "--root=/data", volumeMounts=[data_mount()])],
            "volumes": [CLAIM],
        }
        return {"kind": "Pod", "metadata": {"name": name, "annotations": annotations}, "spec": spec}

    cluster.apply([test_pod("b", "-1"), test_pod("a", "2"), {**test_pod("not-a-test", "0"), "metadata": {"name": "c"}}])
    assert cluster.run_tests() == ["b", "a"]
    assert cluster.run_tests() == []


def test_missing_secret_fails_the_pod_and_an_optional_one_is_skipped(cluster: Cluster) -> None:
    ref = {"name": "DLPIPE_RUN_ID", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}
    cluster.apply([job("missing", container("config", "--root=/data", env=[ref], volumeMounts=[data_mount()]))])
    with pytest.raises(PodFailed, match="Secret absent does not exist"):
        cluster.run_jobs()
    ref["valueFrom"]["secretKeyRef"]["optional"] = True
    cluster.apply([job("optional", container("config", "--root=/data", env=[ref], volumeMounts=[data_mount()]))])
    cluster.run_jobs()


def test_secrets_the_test_supplies_stand_beside_the_rendered_ones(tmp_path: Path) -> None:
    ref = {"name": "DLPIPE_RUN_ID", "valueFrom": {"secretKeyRef": {"name": "given", "key": "run"}}}
    with Cluster(tmp_path, work_dir=tmp_path / "pods", secrets={"given": {"run": "from-the-test"}}) as cluster:
        cluster.apply([job("s", container("config", "--root=/data", env=[ref], volumeMounts=[data_mount()]))])
        cluster.run_jobs()
        assert "run_id: from-the-test" in cluster.log("Job/s", "main")


def test_tf_serving_flags_become_serve_locals(tmp_path: Path) -> None:
    (tmp_path / "models.config").write_text(
        'model_config_list { config { name: "digits" base_path: "/data/models/digits" model_platform: "tensorflow" } }'
    )
    root_of = {"/etc/tf/models.config": str(tmp_path / "models.config"), "/data": "/pod/data"}.__getitem__
    flags = [
        "--port=8500",
        "--rest_api_port=8501",
        "--model_config_file=/etc/tf/models.config",
        "--file_system_poll_wait_seconds=5",
        "--enable_model_warmup=true",
        "--rest_api_timeout_in_ms=30000",
        "--allow_version_labels_for_unavailable_models=true",
        "--load_retry_interval_micros=1500000",
    ]
    assert kubelet.serve_local_args(flags, "Deployment/s", root_of) == [
        "serve-local",
        "--grpc-port=8500",
        "--port=8501",
        f"--model-config-file={tmp_path / 'models.config'}",
        "--poll=5",
        "--allow-version-labels-for-unavailable-models",
        "--load-retry-interval=1.5",
        "--root=/pod/data",
    ]
    with pytest.raises(Refused, match=r"Deployment/s.args\[1\]: serve-local cannot honour TF Serving's --enable_"):
        kubelet.serve_local_args(["--port=8500", "--enable_model_warmup=false"], "Deployment/s", root_of)


# Each case: a change to a plain Job "r" and what the refusal names.
REFUSALS = {
    "other image": (lambda j, c: c.update(image="busybox:1"), r"containers\[0\].image: busybox:1"),
    "other command": (lambda j, c: c.update(command=["sh", "-c"]), r"containers\[0\].command: \['sh'\]"),
    "image file": (lambda j, c: c.update(args=["config", "--config=/usr/x.yaml"]), r"args\[1\]: /usr/x.yaml"),
    "env file": (lambda j, c: c.update(env=[{"name": "X", "value": "/opt/x"}]), r"env\[0\].value: /opt/x is on"),
    "privileged": (lambda j, c: c.update(securityContext={"privileged": True}), r"securityContext.privileged"),
    "root, non-root": (lambda j, c: c.update(securityContext={"runAsUser": 0, "runAsNonRoot": True}), "runAsNonRoot"),
    "host network": (lambda j, c: j["spec"]["template"]["spec"].update(hostNetwork=True), r"hostNetwork"),
    "host path": (
        lambda j, c: j["spec"]["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {}}),
        r"volumes\[1\]: volume h of kind \['hostPath'\]",
    ),
    "nested mount": (
        lambda j, c: c.update(volumeMounts=[data_mount(), data_mount("/data/x")]),
        r"volumeMounts\[1\]: /data/x is under another mount",
    ),
    "field": (
        lambda j, c: c.update(env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]),
        r"env\[0\].valueFrom.fieldRef.fieldPath: spec.nodeName",
    ),
    "resource": (
        lambda j, c: c.update(env=[{"name": "N", "valueFrom": {"resourceFieldRef": {"resource": "x"}}}]),
        r"env\[0\].valueFrom: \['resourceFieldRef'\]",
    ),
    "exec probe": (lambda j, c: c.update(readinessProbe={"exec": {"command": ["true"]}}), r"readinessProbe.exec"),
    "tf serving entrypoint": (lambda j, c: c.update(image="tensorflow/serving:2", args=[]), r"command: \[\] of tens"),
    "tf serving flag": (
        lambda j, c: c.update(
            image="tensorflow/serving:2",
            command=["tensorflow_model_server"],
            args=["--tensorflow_session_parallelism=2"],
        ),
        r"cannot honour TF Serving's --tensorflow_s",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_what_cannot_be_emulated_is_refused_naming_manifest_and_field(cluster: Cluster, case: str) -> None:
    change, field = REFUSALS[case]
    refused = job("r", container("config", "--root=/data", volumeMounts=[data_mount()]))
    change(refused, refused["spec"]["template"]["spec"]["containers"][0])
    cluster.apply([refused])
    with pytest.raises(Refused, match=rf"^Job/r: spec.*{field}"):
        cluster.run_jobs()
    assert not cluster.running and not list(cluster.work.glob("*/*.log"))  # refused before any process started


@pytest.mark.parametrize(
    ("security", "field"),
    [({"runAsUser": 0}, "runAsUser: 0 needs root"), ({"capabilities": {"add": ["CHOWN"]}}, "capabilities.add")],
)
def test_root_and_capabilities_are_refused_to_a_harness_that_is_not_root(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, security: dict[str, Any], field: str
) -> None:
    monkeypatch.setattr(kubelet.os, "geteuid", lambda: 1000)
    cluster.apply([job("r", container("config", securityContext=security, volumeMounts=[data_mount()]))])
    with pytest.raises(Refused, match=rf"^Job/r: spec.containers\[0\].securityContext.{field}"):
        cluster.run_jobs()


def test_a_service_that_remaps_its_port_is_refused(cluster: Cluster) -> None:
    with pytest.raises(Refused, match=r"Service/web: spec.ports\[0\] maps 80 to 8080"):
        cluster.apply([service("web", 80, 8080)])


def test_a_pod_asking_for_a_gpu_runs_on_the_cpu_only_when_the_test_says_so(tmp_path: Path) -> None:
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    gpu = container("config", "--root=/data", volumeMounts=[data_mount()], resources={"limits": {"nvidia.com/gpu": 1}})
    manifest = job("g", gpu, pod={"tolerations": tolerations, "nodeSelector": {"gpu": "a100"}})
    with Cluster(tmp_path, work_dir=tmp_path / "refused") as cluster:
        cluster.apply([manifest])
        with pytest.raises(Refused, match=r"resources.limits: \['nvidia.com/gpu'\] .* under gpus='cpu'"):
            cluster.run_jobs()
    with Cluster(tmp_path, work_dir=tmp_path / "pods", gpus="cpu") as cluster:
        cluster.apply([manifest])
        assert cluster.run_jobs() == ["g"]  # tolerations and nodeSelector only choose a node
        assert "root:" in cluster.log("Job/g", "main")


def test_images_pushed_to_a_registry_are_the_dockerfiles(tmp_path: Path) -> None:
    pushed = {"name": "main", "image": "registry.example.com/ml/dlpipe/dlpipe-storage:0.1.0"}
    with Cluster(tmp_path, work_dir=tmp_path / "refused") as cluster:
        cluster.apply([job("help", pushed, volumes=[])])
        with pytest.raises(Refused, match=r"image: registry.example.com/ml/dlpipe/dlpipe-storage:0.1.0 is not"):
            cluster.run_jobs()
    with Cluster(tmp_path, work_dir=tmp_path / "pods", registry="registry.example.com/ml") as cluster:
        cluster.apply([job("help", pushed, volumes=[])])
        cluster.run_jobs()
        assert "usage: dlpipe" in cluster.log("Job/help", "main")


def test_a_service_account_with_an_iam_role_gets_the_webhooks_identity_and_no_other_does(
    tmp_path: Path, moto_url: str
) -> None:
    """Both pods read an object that is not there: S3 answers the one whose token STS traded for keys;
    the other has no credentials at all (nothing of this process's AWS settings leaks in)."""

    def reader(account: str) -> dict[str, Any]:
        main = container("ingest", "--source=s3://nowhere/x.npz", "--dataset=x", "--root=/data",
                         volumeMounts=[data_mount()])  # fmt: skip
        return job(account, main, pod={"serviceAccountName": account})

    role = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/reader"}
    accounts = [{"kind": "ServiceAccount", "metadata": {"name": "with-role", "annotations": role}},
                {"kind": "ServiceAccount", "metadata": {"name": "plain"}}]  # fmt: skip
    with Cluster(tmp_path, work_dir=tmp_path / "pods", aws_endpoint=moto_url) as cluster:
        cluster.apply([*accounts, reader("with-role"), reader("plain")])
        with pytest.raises(PodFailed, match=r"s3://nowhere/x.npz: the bucket does not exist"):
            cluster.run_jobs()
        token = (cluster.pods["Job/with-role"][0].folder / "volumes" / "aws-iam-token" / "token").read_text()
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["sub"] == "system:serviceaccount:ml:with-role" and claims["aud"] == ["sts.amazonaws.com"]
        with pytest.raises(PodFailed, match="no S3 credentials"):
            cluster.run_jobs()
        assert not (cluster.pods["Job/plain"][0].folder / "volumes" / "aws-iam-token").exists()


def test_helm_test_of_a_release_runs_its_tests_again(cluster: Cluster) -> None:
    def test_pod(name: str, release: str) -> dict[str, Any]:
        metadata = {"name": name, "annotations": {"helm.sh/hook": "test"},
                    "labels": {"app.kubernetes.io/instance": release}}  # fmt: skip
        spec = {"restartPolicy": "Never", "containers": [container("config", "--root=/data",
                volumeMounts=[data_mount()])], "volumes": [CLAIM]}  # fmt: skip
        return {"kind": "Pod", "metadata": metadata, "spec": spec}

    cluster.apply([test_pod("train-test", "train"), test_pod("eval-test", "eval")])
    assert cluster.run_tests("train") == ["train-test"]
    assert cluster.run_tests("train") == ["train-test"]  # helm test runs them anew each time
    assert cluster.run_tests() == ["eval-test"]
    assert len(cluster.pods["Pod/train-test"]) == 2
