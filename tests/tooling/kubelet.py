"""Runs a chart's rendered pods as local processes, the way a kubelet would, or refuses to.

::

    cluster = Cluster(volume_dir, secrets={"s3": {"AWS_ACCESS_KEY_ID": "..."}})
    cluster.apply(docs)            # the manifests of `helm template` (tests/tooling/charts.py)
    cluster.run_jobs()             # every Job not run yet, to completion, in dependency order
    cluster.run_cronjob(name)      # one scheduled Job of a CronJob, now
    pod = cluster.start(name)      # a Deployment's one replica, returned once its readiness probes pass
    cluster.run_tests()            # the helm test pods (`helm.sh/hook: test`) not run yet, each to completion
    cluster.run_tests("train")     # `helm test train`: that release's test pods, again each time
    cluster.log("Job/<name>", "<container>")   # what a container printed (pod.log(container) for a Pod)
    cluster.stop()                 # (or `with Cluster(...) as cluster:`) ends every process still running

A pod that fails raises :class:`PodFailed` with its container's last log lines; anything this module
cannot emulate faithfully raises :class:`Refused`, one line naming the manifest and the field, before a
process starts. The rules:

- Objects: ConfigMaps, Secrets (rendered, or ``secrets=``/``config_maps=`` name -> {key: value}),
  Services, Jobs (Indexed: a pod per completion index, ``JOB_COMPLETION_INDEX`` set, ``parallelism`` at
  once), CronJobs, Deployments (one replica whatever ``replicas`` says) and test Pods. Order of Jobs:
  pre-install hooks, then Jobs as rendered, then post-install hooks, each group by hook weight. A Job
  runs once: a failed pod fails it for good (no ``backoffLimit`` retries, which would hide the failure).
  Resources other than cpu, memory and ephemeral-storage (``nvidia.com/gpu``) are refused; those three
  are not enforced. ``gpus="cpu"`` lets a pod that asks for ``nvidia.com/gpu`` run on the CPU instead
  (``CUDA_VISIBLE_DEVICES`` empty, so no GPU of this machine is seen either, and ``DLPIPE_TRAIN__GPUS=0``
  over the chart's ``train.gpus``, whose check would fail a pod that sees fewer GPUs than it asked for):
  for a flow whose training asks for a GPU, where what is checked is that it runs, not how fast.
  Tolerations, ``nodeSelector``, affinity and priority choose a node; on the one node here they change
  nothing, and are not checked.
- Processes: init containers one by one, each to completion (the first failure fails the pod);
  sidecars (init containers with ``restartPolicy: Always``) and containers run together, the sidecars
  until the containers end. ``command`` replaces the image's ENTRYPOINT and drops its CMD, ``args``
  replace CMD, ``$(VAR)`` expands, as in Kubernetes. Images: ``dlpipe/dlpipe-<stage>`` runs the
  ENTRYPOINT/CMD/ENV/WORKDIR of that stage's target in images/Dockerfile (stages from images/stages),
  ``dlpipe`` being this venv's console script (``registry="<prefix>"``: also
  ``<prefix>/dlpipe/dlpipe-<stage>``, the name ``REGISTRY=<prefix> scripts/build-images.sh`` pushes);
  ``tensorflow/serving`` with ``command:
  [tensorflow_model_server]`` runs ``dlpipe serve-local`` (:func:`serve_local_args`: the flags it
  translates, the few it accepts without effect and why, any other refused). Any other image or
  command is refused.
- Files: every claim is the one shared volume, ``volume_dir``; emptyDirs, ConfigMap, Secret and
  projected files (mode 0444) are folders of the pod's own. Processes see no image file system, so an
  absolute path in ``command``, ``args`` or an ``env`` value (whole, or after ``--flag=``) is rewritten:
  on or under a ``mountPath``, to that mount's folder (``subPath`` honoured); a folder above mounts
  (``--root=/data`` with ``/data/models`` mounted), to ``<container root><path>``, a folder where each
  mount is a link; any other absolute path would be the image's file system: refused. ``TMPDIR``
  follows a mounted ``/tmp``. A mount under another mount is refused (its mount point would be made
  inside that volume). Read-only mounts (``readOnly``, a read-only claim, ConfigMaps, Secrets) fail
  writes from Python with EROFS (kubelet_site/sitecustomize.py says what it cannot see).
- Environment: PATH and PYTHONPATH of this process (so the children import this checkout's dlpipe), the
  image's ENV, then ``envFrom`` and ``env`` (``value``; ``fieldRef`` to the pod's name, namespace,
  labels, annotations, service account, ``status.podIP`` 127.0.0.1; ``secretKeyRef``,
  ``configMapKeyRef``). Nothing else of this process leaks in. Service link variables are not set.
- Workload identity (``aws_endpoint="<url>"``, the moto server that stands in for AWS): EKS's pod
  identity webhook (IRSA) is emulated. A pod whose service account carries
  ``eks.amazonaws.com/role-arn`` is changed at admission as the webhook changes it: a projected
  ``serviceAccountToken`` volume mounted in every container, and ``AWS_ROLE_ARN``,
  ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
  ``AWS_STS_REGIONAL_ENDPOINTS`` (a variable the container sets itself is kept), plus
  ``AWS_ENDPOINT_URL`` = that url, the one thing real pods do not need. The SDK then trades the token
  for keys with STS (moto's answers any token), as on EKS. A pod of any other service account gets
  none of it. Projected ``serviceAccountToken`` sources are files of an unsigned token naming the
  service account and audience (nothing here verifies a signature).
- Network: the rendered Services' names (``name``, ``name.ns``, ``name.ns.svc``,
  ``name.ns.svc.cluster.local``) and the pods' ``hostname.subdomain`` names resolve to 127.0.0.1 in the
  children; ports stay as rendered, so a Service whose port differs from its target container port is
  refused, and so is a pod that declares a containerPort a running pod declares.
- Security: processes run as this user. A container that needs what this user lacks is refused: uid 0
  (``runAsUser: 0``) or added capabilities when this user is not root, ``privileged``, host namespaces.
  Restrictions that only take away (seccomp, dropped capabilities, read-only root file system, a uid
  other than 0) are not enforced: a pod that works under them works here; the converse is not proven
  (tests/charts/test_security.py checks the manifests).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SITE = Path(__file__).with_name("kubelet_site")
DLPIPE = Path(sys.executable).with_name("dlpipe")
LOG_LINES = 20
LOCAL_RESOURCES = {"cpu", "memory", "ephemeral-storage"}  # a share of this machine; not enforced
GPU = "nvidia.com/gpu"
# EKS's pod identity webhook: what it keys on, where it mounts the token, the region it names.
IRSA_ROLE = "eks.amazonaws.com/role-arn"
IRSA_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
IRSA_REGION = "us-east-1"


class Refused(Exception):
    """What the harness cannot emulate faithfully: one line naming the manifest and field."""


class PodFailed(AssertionError):
    """A container exited non-zero (or never got ready): its last log lines."""


# -- images ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """What a container of the image runs unless its manifest says otherwise."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str


def dockerfile_images() -> dict[str, Image]:
    """images/Dockerfile's targets named in images/stages: ``dlpipe/dlpipe-<stage>`` -> its Image."""
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    text = re.sub(r"\\\n", " ", (REPO / "images" / "Dockerfile").read_text())
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "FROM":
            base, _, name = rest.partition(" AS ")
            current = dict(stages.get(base.strip(), {"ENTRYPOINT": [], "CMD": [], "ENV": {}, "WORKDIR": "/"}))
            current["ENV"] = dict(current["ENV"])
            stages[name.strip()] = current
        elif word in ("ENTRYPOINT", "CMD"):
            current[word] = json.loads(rest)
            if word == "ENTRYPOINT":
                current["CMD"] = []
        elif word == "ENV":
            current["ENV"].update(dict(item.split("=", 1) for item in shlex.split(rest)))
        elif word == "WORKDIR":
            current["WORKDIR"] = rest.strip()
    names = [line.split()[0] for line in (REPO / "images" / "stages").read_text().splitlines() if line[:1].isalpha()]
    return {
        f"dlpipe/dlpipe-{name}": Image(
            tuple(stages[name]["ENTRYPOINT"]),
            tuple(stages[name]["CMD"]),
            tuple(stages[name]["ENV"].items()),
            stages[name]["WORKDIR"],
        )
        for name in names
    }


# TF Serving's flags -> serve-local's; the value is a function of TF Serving's value.
_SERVE_LOCAL = {
    "port": lambda v: [f"--grpc-port={v}"],
    "rest_api_port": lambda v: [f"--port={v}"],
    "model_config_file": lambda v: [f"--model-config-file={v}"],
    "file_system_poll_wait_seconds": lambda v: [f"--poll={v}"],
    "max_num_load_retries": lambda v: [f"--max-num-load-retries={v}"],
    "load_retry_interval_micros": lambda v: [f"--load-retry-interval={int(v) / 1e6:g}"],
    "allow_version_labels_for_unavailable_models": lambda v: (
        ["--allow-version-labels-for-unavailable-models"] if v == "true" else []
    ),
    "enable_model_warmup": lambda v: [] if v == "true" else None,  # serve-local always replays the warm-up
}
# Flags serve-local has no counterpart for, each accepted for the reason given: none changes an answer.
_SERVE_LOCAL_NEUTRAL = {
    "rest_api_timeout_in_ms": "a deadline: only a call slower than it would answer differently",
    "monitoring_config_file": "metrics: serve-local answers their path 404, so a scrape fails loudly",
    "enable_batching": "batching merges concurrent requests; each answer stays the same",
    "batching_parameters_file": "(with enable_batching)",
}


def serve_local_args(args: list[str], where: str, root_of: Any) -> list[str]:
    """``tensorflow_model_server`` args -> ``dlpipe serve-local`` args, or Refused.

    ``root_of(path)`` maps an absolute path of the pod; serve-local's ``--root`` is the folder above the
    ``models/`` of the config's base paths (``<mount>/models/<name>``), which must be one folder.
    """
    out = ["serve-local"]
    roots = set()
    for i, arg in enumerate(args):
        match = re.fullmatch(r"--([a-z_]+)=(.*)", arg)
        if not match:
            raise Refused(f"{where}.args[{i}]: {arg!r} is not a --flag=value TF Serving flag")
        flag, value = match.groups()
        if flag in _SERVE_LOCAL_NEUTRAL:
            continue
        translated = _SERVE_LOCAL[flag](value) if flag in _SERVE_LOCAL else None
        if translated is None:
            raise Refused(f"{where}.args[{i}]: serve-local cannot honour TF Serving's {arg}")
        if flag == "model_config_file":
            roots |= {str(PurePosixPath(p).parent.parent) for p in _base_paths(Path(root_of(value)))}
            translated = [f"--model-config-file={root_of(value)}"]
        out += translated
    if not roots:
        raise Refused(f"{where}.args: no --model_config_file, the only way serve-local is told what to serve here")
    if len(roots) != 1:
        raise Refused(f"{where}.args: the model config's base paths {sorted(roots)} are not under one volume root")
    return [*out, f"--root={root_of(roots.pop())}"]


def _base_paths(config: Path) -> list[str]:
    from dlpipe.serving import modelconfig

    return [model.base_path for model in modelconfig.read_config(config).model_config_list.config]


# -- pods ------------------------------------------------------------------------------------


@dataclass
class Pod:
    """A running pod: its processes, by container name, and its folder."""

    name: str
    where: str
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sidecars: list[str] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    probes: list[tuple[str, dict[str, Any], dict[str, int]]] = field(default_factory=list)  # container, probe, ports

    def log(self, container: str) -> str:
        return (self.folder / f"{container}.log").read_text(errors="replace")

    def tail(self, container: str) -> str:
        return "\n".join(self.log(container).splitlines()[-LOG_LINES:])

    def failed(self, container: str, what: str) -> PodFailed:
        return PodFailed(f"{self.where} container {container} {what}; its last lines:\n{self.tail(container)}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Cluster:
    """The manifests applied so far, and the pods they run; see the module's docstring.

    ``work_dir`` holds a folder per pod (its volumes, its root of links, a log per container); by
    default a new temporary folder, left in place so that logs can be read after a failure.
    """

    def __init__(
        self,
        volume_dir: Path,
        *,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        config_maps: Mapping[str, Mapping[str, str]] | None = None,
        work_dir: Path | None = None,
        timeout: float = 300,
        registry: str | None = None,
        gpus: str = "refuse",
        aws_endpoint: str | None = None,
    ) -> None:
        if gpus not in ("refuse", "cpu"):
            raise ValueError(f"gpus={gpus!r}: 'refuse' (the default) or 'cpu'")
        self.volume = Path(volume_dir)
        self.work = Path(work_dir or tempfile.mkdtemp(prefix="kubelet-"))
        self.timeout = timeout
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, str]] = {}
        for kind, given in (("Secret", secrets or {}), ("ConfigMap", config_maps or {})):
            for name, values in given.items():
                self.data[kind, name] = dict(values)
        self.done: set[str] = set()  # Jobs and test pods that have run
        self.running: list[Pod] = []
        self.pods: dict[str, list[Pod]] = {}  # by owner ("Job/<name>"), every pod started, for its logs
        self.images = dockerfile_images()
        if registry:
            self.images |= {f"{registry.rstrip('/')}/{name}": image for name, image in list(self.images.items())}
        self.gpus = gpus
        self.aws_endpoint = aws_endpoint

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- objects ---------------------------------------------------------------------------------

    def apply(self, docs: Iterable[dict[str, Any]]) -> None:
        """Add (or replace, by kind and name) manifests; nothing runs yet."""
        for doc in docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            self.objects[kind, name] = doc
            if kind == "ConfigMap":
                self.data[kind, name] = {**doc.get("data", {}), **_decoded(doc.get("binaryData", {}))}
            elif kind == "Secret":
                self.data[kind, name] = {**_decoded(doc.get("data", {})), **doc.get("stringData", {})}
        for service in self._of_kind("Service"):
            self._check_service(service)

    def _of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for (k, _), doc in self.objects.items() if k == kind]

    def hostnames(self) -> list[str]:
        return [n for s in self._of_kind("Service") for n in _dns_names(s["metadata"]["name"], _namespace(s))]

    def _check_service(self, service: dict[str, Any]) -> None:
        where = f"Service/{service['metadata']['name']}"
        for i, port in enumerate(service["spec"].get("ports", [])):
            target = port.get("targetPort", port["port"])
            if isinstance(target, int) and target != port["port"]:
                raise Refused(f"{where}: spec.ports[{i}] maps {port['port']} to {target}; ports are kept as they are")
            if isinstance(target, str):
                for pod, spec in self._pod_specs():
                    for c in spec.get("containers", []):
                        for p in c.get("ports", []):
                            if p.get("name") == target and p["containerPort"] != port["port"]:
                                held = f"{pod}'s port {target} = {p['containerPort']}"
                                raise Refused(f"{where}: spec.ports[{i}] targets {held}; ports are kept as they are")

    def _pod_specs(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for doc in self.objects.values():
            template = _template(doc)
            if template is not None:
                yield f"{doc['kind']}/{doc['metadata']['name']}", template["spec"]

    # -- workloads ---------------------------------------------------------------------------------

    def run_jobs(self) -> list[str]:
        """Every Job not run yet, to completion; the names of those run."""
        jobs = [doc for doc in self._of_kind("Job") if f"Job/{doc['metadata']['name']}" not in self.done]

        def order(job: dict[str, Any]) -> tuple[int, int]:
            hooks = _annotation(job, "helm.sh/hook")
            group = 0 if "pre-install" in hooks else 2 if "post-install" in hooks else 1
            return group, int(_annotation(job, "helm.sh/hook-weight") or 0)

        ran = []
        for job in sorted(jobs, key=order):
            self._run_job(job)
            ran.append(job["metadata"]["name"])
        return ran

    def run_cronjob(self, name: str, job_name: str | None = None) -> str:
        """One Job of CronJob ``name``, named as the controller names a scheduled one."""
        cron = self.objects["CronJob", name]
        job_name = job_name or f"{name}-{int(time.time() // 60)}"
        template = cron["spec"]["jobTemplate"]
        metadata = {**template.get("metadata", {}), "name": job_name, "namespace": _namespace(cron)}
        self._run_job({"kind": "Job", "metadata": metadata, "spec": template["spec"]})
        return job_name

    def _run_job(self, job: dict[str, Any]) -> None:
        name, spec = job["metadata"]["name"], job["spec"]
        completions = spec.get("completions", 1)
        parallelism = max(1, spec.get("parallelism", 1))
        for first in range(0, completions, parallelism):
            pods: list[Pod] = []
            try:
                self._start_job_pods(job, range(first, min(completions, first + parallelism)), pods)
                for pod in pods:
                    self._wait(pod)
            finally:
                self.done.add(f"Job/{name}")  # a failed Job stays failed: it is not run again
                for pod in pods:
                    self._remove(pod)

    def _start_job_pods(self, job: dict[str, Any], indexes: range, pods: list[Pod]) -> None:
        """The Job's pods of ``indexes``, started together, appended to ``pods`` as they start."""
        name, spec = job["metadata"]["name"], job["spec"]
        indexed = spec.get("completionMode") == "Indexed"
        labels = {"batch.kubernetes.io/job-name": name, "job-name": name}
        for index in indexes:
            extra = {"batch.kubernetes.io/job-completion-index": str(index)} if indexed else {}
            pod_name = f"{name}-{index}-{_suffix(name, index)}" if indexed else f"{name}-{_suffix(name, index)}"
            hostname = f"{name}-{index}" if indexed else pod_name
            pods.append(
                self._start_pod(
                    f"Job/{name}",
                    pod_name,
                    spec["template"],
                    labels={**labels, **extra},
                    annotations=extra,
                    namespace=_namespace(job),
                    hostname=hostname,
                    env={"JOB_COMPLETION_INDEX": str(index)} if indexed else {},
                )
            )

    def start(self, name: str) -> Pod:
        """Deployment ``name``'s one replica, once its readiness (and startup) probes pass."""
        deployment = self.objects["Deployment", name]
        template = deployment["spec"]["template"]
        template_hash = hashlib.sha256(repr(template).encode()).hexdigest()[:10]
        pod = self._start_pod(
            f"Deployment/{name}", f"{name}-{template_hash}-{_suffix(name, 0)}", template,
            labels={"pod-template-hash": template_hash}, namespace=_namespace(deployment),
        )  # fmt: skip
        self._until_ready(pod)
        return pod

    def run_tests(self, release: str | None = None) -> list[str]:
        """The helm test pods not run yet, by hook weight, each to completion; their names.

        With ``release``, as ``helm test <release>``: the test pods of that release (its
        ``app.kubernetes.io/instance`` label), run or not before, as each ``helm test`` runs them anew.
        """
        tests = [p for p in self._of_kind("Pod") if "test" in _annotation(p, "helm.sh/hook")]
        if release is None:
            tests = [p for p in tests if f"Pod/{p['metadata']['name']}" not in self.done]
        else:
            tests = [p for p in tests if p["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == release]
        tests.sort(key=lambda p: (int(_annotation(p, "helm.sh/hook-weight") or 0), p["metadata"]["name"]))
        for test in tests:
            name = test["metadata"]["name"]
            pod = self._start_pod(f"Pod/{name}", name, test, namespace=_namespace(test))
            try:
                self._wait(pod)
            finally:
                self.done.add(f"Pod/{name}")
                self._remove(pod)
        return [t["metadata"]["name"] for t in tests]

    def log(self, owner: str, container: str, index: int = 0) -> str:
        """The log of ``container`` in the ``index``-th pod ``owner`` ("Job/<name>", ...) started."""
        return self.pods[owner][index].log(container)

    def stop(self) -> None:
        for pod in list(self.running):
            self._remove(pod)

    def _remove(self, pod: Pod) -> None:
        pod.stop()
        if pod in self.running:
            self.running.remove(pod)

    # -- a pod -----------------------------------------------------------------------------------

    def _start_pod(
        self,
        where: str,
        name: str,
        template: dict[str, Any],
        *,
        labels: Mapping[str, str] = {},
        annotations: Mapping[str, str] = {},
        namespace: str,
        hostname: str | None = None,
        env: Mapping[str, str] = {},
    ) -> Pod:
        spec = self._admit(template["spec"])
        metadata = {
            "name": name,
            "namespace": namespace,
            "labels": {**template.get("metadata", {}).get("labels", {}), **labels},
            "annotations": {**template.get("metadata", {}).get("annotations", {}), **annotations},
        }
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                raise Refused(f"{where}: spec.{key}: the host's namespaces are not emulated")
        pod = Pod(name, f"{where} pod {name}", self.work / name)
        shutil.rmtree(pod.folder, ignore_errors=True)  # a pod of the same name before: a new pod starts empty
        pod.folder.mkdir(parents=True)
        self.pods.setdefault(where, []).append(pod)
        volumes = self._volumes(where, pod, spec, namespace)
        inits = spec.get("initContainers", [])
        containers = [("initContainers", i, c) for i, c in enumerate(inits)] + [
            ("containers", i, c) for i, c in enumerate(spec["containers"])
        ]
        plans = [
            self._plan(f"{where}: spec.{kind}[{i}]", pod, spec, c, metadata, volumes, env) for kind, i, c in containers
        ]
        for kind, i, container in containers:
            for probe in ("startupProbe", "readinessProbe"):
                if "exec" in container.get(probe, {}):
                    raise Refused(f"{where}: spec.{kind}[{i}].{probe}.exec: exec probes are not emulated")
        pod.ports = {p["containerPort"] for _, _, c in containers for p in c.get("ports", [])}
        for other in self.running:
            if pod.ports & other.ports:
                raise Refused(f"{where}: ports {sorted(pod.ports & other.ports)} are held by {other.where}")
        held = sorted(port for port in pod.ports if not _free(port))
        if held:  # else a probe would pass against that process while the pod's own exits
            raise Refused(f"{where}: ports {held} are held by a process outside this cluster (another test?)")
        hosts = self.hostnames()
        if hostname and spec.get("subdomain"):
            hosts += _dns_names(f"{hostname}.{spec['subdomain']}", namespace)
        self.running.append(pod)
        for (kind, _, container), plan in zip(containers, plans, strict=True):
            plan.env["KUBELET_SITE_HOSTS"] = "\n".join(hosts)
            sidecar = kind == "initContainers" and container.get("restartPolicy") == "Always"
            process = self._exec(pod, container["name"], plan)
            if kind == "initContainers" and not sidecar and process.wait(self.timeout) != 0:
                self._remove(pod)
                raise pod.failed(container["name"], f"(init) exited {process.returncode}")
            if sidecar:
                pod.sidecars.append(container["name"])
            for probe in ("startupProbe", "readinessProbe"):
                if probe in container:
                    pod.probes.append((container["name"], container[probe], _named_ports(container)))
        return pod

    def _admit(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The pod spec as the admission webhooks installed leave it (the module's docstring)."""
        account = self.objects.get(("ServiceAccount", spec.get("serviceAccountName", "default")), {"metadata": {}})
        role = _annotation(account, IRSA_ROLE)
        if not role or self.aws_endpoint is None:
            return spec
        spec = copy.deepcopy(spec)
        token = {"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}
        spec.setdefault("volumes", []).append({"name": "aws-iam-token", "projected": {"sources": [token]}})
        env = {
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
            "AWS_DEFAULT_REGION": IRSA_REGION,
            "AWS_REGION": IRSA_REGION,
            "AWS_ROLE_ARN": role,
            "AWS_WEB_IDENTITY_TOKEN_FILE": f"{IRSA_TOKEN_DIR}/token",
            "AWS_ENDPOINT_URL": self.aws_endpoint,  # not the webhook's: where "AWS" is here
        }
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            own = {var["name"] for var in container.get("env", [])}
            container.setdefault("env", []).extend({"name": k, "value": v} for k, v in env.items() if k not in own)
            mount = {"name": "aws-iam-token", "mountPath": IRSA_TOKEN_DIR, "readOnly": True}
            container.setdefault("volumeMounts", []).append(mount)
        return spec

    def _exec(self, pod: Pod, container: str, plan: _Plan) -> subprocess.Popen[bytes]:
        log = open(pod.folder / f"{container}.log", "wb")  # noqa: SIM115 (the child owns it)
        with log:
            process = subprocess.Popen(plan.argv, env=plan.env, cwd=plan.cwd, stdout=log, stderr=subprocess.STDOUT)
        pod.processes[container] = process
        return process

    def _wait(self, pod: Pod) -> None:
        """Every regular container to completion, then the sidecars stopped."""
        deadline = time.monotonic() + self.timeout
        for container, process in pod.processes.items():
            if container in pod.sidecars:
                continue
            try:
                code = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise pod.failed(container, f"did not finish in {self.timeout:g}s") from None
            if code != 0:
                raise pod.failed(container, f"exited {code}")

    def _until_ready(self, pod: Pod) -> None:
        deadline = time.monotonic() + self.timeout
        pending = list(pod.probes)
        while pending:
            for container, process in pod.processes.items():
                if process.poll() is not None:
                    self._remove(pod)
                    raise pod.failed(container, f"exited {process.returncode} before the pod was ready")
            pending = [p for p in pending if not _probe(pod, *p)]
            if time.monotonic() > deadline:
                self._remove(pod)
                raise pod.failed(pending[0][0], f"not ready after {self.timeout:g}s")
            time.sleep(0.2)

    # -- volumes, environment, command ------------------------------------------------------------

    def _volumes(self, where: str, pod: Pod, spec: dict[str, Any], namespace: str) -> dict[str, _Volume]:
        volumes = {}
        for i, volume in enumerate(spec.get("volumes", [])):
            field_ = f"{where}: spec.volumes[{i}]"
            name = volume["name"]
            own = pod.folder / "volumes" / name
            if "persistentVolumeClaim" in volume:
                volumes[name] = _Volume(self.volume, read_only=volume["persistentVolumeClaim"].get("readOnly", False))
            elif "emptyDir" in volume:
                own.mkdir(parents=True, exist_ok=True)
                volumes[name] = _Volume(own, read_only=False)
            elif {"configMap", "secret", "projected"} & volume.keys():
                sources = volume["projected"]["sources"] if "projected" in volume else [volume]
                for j, source in enumerate(sources):
                    at = f"{field_}.projected.sources[{j}]" if "projected" in volume else field_
                    token = source.get("serviceAccountToken")
                    if token is not None:
                        account = f"system:serviceaccount:{namespace}:{spec.get('serviceAccountName', 'default')}"
                        _write_token(own / token["path"], account, token)
                    else:
                        self._project(at, source, own)
                own.mkdir(parents=True, exist_ok=True)
                volumes[name] = _Volume(own, read_only=True)  # as Kubernetes mounts them, always
            else:
                raise Refused(f"{field_}: volume {name} of kind {sorted(set(volume) - {'name'})} is not emulated")
        return volumes

    def _project(self, where: str, source: dict[str, Any], folder: Path) -> None:
        kind = next((k for k in ("configMap", "secret") if k in source), None)
        if kind is None:
            raise Refused(f"{where}: {sorted(source)} is not emulated (ConfigMap, Secret and token sources are)")
        ref = source[kind]
        name = ref.get("name") or ref.get("secretName")
        data = self._lookup(where, "ConfigMap" if kind == "configMap" else "Secret", name, ref.get("optional", False))
        items = ref.get("items") or [{"key": key, "path": key} for key in data]
        for item in items:
            if item["key"] not in data:
                raise PodFailed(f"{where}: {kind} {name} has no key {item['key']}")
            path = folder / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[item["key"]].encode() if isinstance(data[item["key"]], str) else data[item["key"]])
            path.chmod(0o444)

    def _lookup(self, where: str, kind: str, name: str, optional: bool) -> dict[str, Any]:
        if (kind, name) in self.data:
            return self.data[kind, name]
        if optional:
            return {}
        raise PodFailed(f"{where}: {kind} {name} does not exist (the pod would wait in CreateContainerConfigError)")

    def _plan(
        self,
        where: str,
        pod: Pod,
        spec: dict[str, Any],
        container: dict[str, Any],
        metadata: dict[str, Any],
        volumes: dict[str, _Volume],
        extra_env: Mapping[str, str],
    ) -> _Plan:
        self._check_security(where, spec.get("securityContext", {}), container.get("securityContext", {}))
        allowed = LOCAL_RESOURCES | ({GPU} if self.gpus == "cpu" else set())
        gpu = False
        for amounts in ("limits", "requests"):
            asked = set(container.get("resources", {}).get(amounts, {}))
            gpu |= GPU in asked
            if asked - allowed:
                extended = sorted(asked - allowed)
                hint = f" ({GPU} runs on the CPU under gpus='cpu')" if GPU in extended else ""
                raise Refused(
                    f"{where}.resources.{amounts}: {extended} are not emulated (only {sorted(LOCAL_RESOURCES)}){hint}"
                )
        root = pod.folder / "root" / container["name"]
        mounts = self._mount(where, root, container, volumes)
        image_name, _, _ = container["image"].rpartition(":")
        image = self.images.get(image_name)
        mapper = _PathMapper(root, {mount: source for mount, source, _ in mounts})

        def rewrite(value: str, field_: str) -> str:
            return mapper.rewrite(value, f"{where}.{field_}")

        env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])}
        if image is not None:
            env |= {key: mapper.rewrite(value, "", strict=False) for key, value in image.env}
        env |= self._env(where, container, metadata, spec, rewrite)
        env |= extra_env  # JOB_COMPLETION_INDEX: the Job controller appends it to the container's env
        if gpu:  # gpus="cpu": the GPUs it asked for are this machine's CPU, and dlpipe is told there are none
            env |= {"CUDA_VISIBLE_DEVICES": "", "DLPIPE_TRAIN__GPUS": "0"}
        if any(mount == "/tmp" for mount, _, _ in mounts):
            env["TMPDIR"] = mapper.local("/tmp", where)
        env["KUBELET_SITE_READONLY"] = "\n".join(str(source) for _, source, read_only in mounts if read_only)
        command = [_expand(c, env) for c in container.get("command", [])]
        args = [_expand(a, env) for a in container.get("args", [])]
        if image_name == "tensorflow/serving":
            if command != ["tensorflow_model_server"]:
                raise Refused(
                    f"{where}.command: {command} of tensorflow/serving; only tensorflow_model_server is emulated"
                )
            argv = [str(DLPIPE), *serve_local_args(args, where, lambda p: mapper.rewrite(p, f"{where}.args"))]
        elif image is not None:
            command = command or list(image.entrypoint)
            args = args if "args" in container or "command" in container else list(image.cmd)
            if command[:1] != ["dlpipe"]:
                raise Refused(f"{where}.command: {command[:1]} is not in {image_name} as far as this harness knows")
            args = [rewrite(a, f"args[{i}]") for i, a in enumerate(args)]
            argv = [str(DLPIPE), *command[1:], *args]
        else:
            raise Refused(f"{where}.image: {container['image']} is not an image this harness can run")
        workdir = container.get("workingDir") or (image.workdir if image else "/")
        cwd = mapper.rewrite(workdir, f"{where}.workingDir", strict=False)
        return _Plan(argv, env, cwd if Path(cwd).is_dir() else str(pod.folder))

    def _check_security(self, where: str, pod_sc: dict[str, Any], sc: dict[str, Any]) -> None:
        merged = {**pod_sc, **sc}
        root_here = os.geteuid() == 0
        field_ = "securityContext" if "runAsUser" in sc else "(pod) securityContext"
        if merged.get("runAsUser") == 0:
            if merged.get("runAsNonRoot"):
                raise Refused(f"{where}.{field_}: runAsUser 0 with runAsNonRoot: the kubelet refuses to start it")
            if not root_here:
                raise Refused(f"{where}.{field_}.runAsUser: 0 needs root, and this harness runs as uid {os.geteuid()}")
        if sc.get("privileged"):
            raise Refused(f"{where}.securityContext.privileged: a privileged container is not emulated")
        added = sc.get("capabilities", {}).get("add", [])
        if added and not root_here:
            raise Refused(f"{where}.securityContext.capabilities.add: {added} need root; this harness is not root")

    def _mount(
        self, where: str, root: Path, container: dict[str, Any], volumes: dict[str, _Volume]
    ) -> list[tuple[str, Path, bool]]:
        """``<root><mountPath>`` links to each mount's folder; (mountPath, folder, read-only) of each."""
        mounts: list[tuple[str, Path, bool]] = []
        links: list[str] = []
        for i, mount in enumerate(container.get("volumeMounts", [])):
            field_ = f"{where}.volumeMounts[{i}]"
            path = mount["mountPath"]
            if mount["name"] not in volumes:
                raise Refused(f"{field_}: no volume named {mount['name']}")
            if any(path.startswith(link + "/") for link in links):
                raise Refused(f"{field_}: {path} is under another mount; its mount point would be made in that volume")
            volume = volumes[mount["name"]]
            source = volume.path / mount.get("subPath", "")
            if mount.get("subPath"):
                source.mkdir(parents=True, exist_ok=True)  # the kubelet makes a missing subPath
            source = source.resolve()
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source, target_is_directory=True)
            links.append(path)
            mounts.append((path, source, bool(mount.get("readOnly") or volume.read_only)))
        return mounts

    def _env(
        self, where: str, container: dict[str, Any], metadata: dict[str, Any], spec: dict[str, Any], rewrite: Any
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        for i, source in enumerate(container.get("envFrom", [])):
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            ref = source.get("configMapRef") or source.get("secretRef")
            if ref is None:
                raise Refused(f"{where}.envFrom[{i}]: {sorted(source)} is not emulated")
            data = self._lookup(f"{where}.envFrom[{i}]", kind, ref["name"], ref.get("optional", False))
            env |= {source.get("prefix", "") + key: str(value) for key, value in data.items()}
        for i, var in enumerate(container.get("env", [])):
            field_ = f"env[{i}]"
            if "value" in var or "valueFrom" not in var:
                value = _expand(str(var.get("value", "")), env)
            else:
                value = self._value_from(f"{where}.{field_}.valueFrom", var["valueFrom"], metadata, spec)
            if value is not None:
                env[var["name"]] = rewrite(value, f"{field_}.value")
        return env

    def _value_from(
        self, where: str, source: dict[str, Any], metadata: dict[str, Any], spec: dict[str, Any]
    ) -> str | None:
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
            if match:
                values = metadata[match.group(1)]
                if match.group(2) not in values:
                    raise PodFailed(f"{where}.fieldRef: the pod has no {match.group(1)[:-1]} {match.group(2)}")
                return values[match.group(2)]
            simple = {
                "metadata.name": metadata["name"],
                "metadata.namespace": metadata["namespace"],
                "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
                "status.podIP": "127.0.0.1",
            }
            if path not in simple:
                raise Refused(f"{where}.fieldRef.fieldPath: {path} is not emulated")
            return simple[path]
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if key in source:
                ref = source[key]
                data = self._lookup(where, kind, ref["name"], ref.get("optional", False))
                if ref["key"] not in data:
                    if ref.get("optional"):
                        return None
                    raise PodFailed(f"{where}.{key}: {kind} {ref['name']} has no key {ref['key']}")
                value = data[ref["key"]]
                return value.decode() if isinstance(value, bytes) else value
        raise Refused(f"{where}: {sorted(source)} is not emulated")


@dataclass
class _Volume:
    path: Path
    read_only: bool


@dataclass
class _Plan:
    argv: list[str]
    env: dict[str, str]
    cwd: str


class _PathMapper:
    """Absolute paths of the pod -> paths of this machine, or Refused.

    On or under a mount: the mount's folder (the process sees the volume itself, not a link to it). A
    folder above mounts: the same path under the pod's root, where each mount is a link.
    """

    def __init__(self, root: Path, mounts: Mapping[str, Path]) -> None:
        self.root = root
        self.mounts = {PurePosixPath(m): source for m, source in mounts.items()}

    def local(self, path: str, where: str, strict: bool = True) -> str:
        pure = PurePosixPath(path)
        for mount, source in self.mounts.items():
            if pure == mount or mount in pure.parents:
                return str(source / pure.relative_to(mount))
        if (str(pure) != "/" and any(pure in mount.parents for mount in self.mounts)) or not strict:
            return f"{self.root}{path}"
        raise Refused(f"{where}: {path} is on the image's file system, which is not here (not a mount)")

    def rewrite(self, value: str, where: str, strict: bool = True) -> str:
        """``value`` whole, or after ``--flag=``, if it is an absolute path."""
        prefix, path = "", value
        flag = re.fullmatch(r"(--?[\w.-]+=)(/.*)", value)
        if flag:
            prefix, path = flag.groups()
        return f"{prefix}{self.local(path, where, strict)}" if path.startswith("/") else value


def _probe(pod: Pod, container: str, probe: dict[str, Any], ports: dict[str, int]) -> bool:
    kind = "httpGet" if "httpGet" in probe else "tcpSocket"
    port = probe[kind]["port"]
    port = ports.get(port, port) if isinstance(port, str) else port
    try:
        if kind == "tcpSocket":
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        url = f"http://127.0.0.1:{port}{probe['httpGet'].get('path', '/')}"
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 400
    except OSError:
        return False


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is free
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _named_ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)``: a defined variable's value; ``$$(VAR)`` is a literal ``$(VAR)``."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)  # fmt: skip


def _write_token(path: Path, account: str, source: Mapping[str, Any]) -> None:
    """A projected service account token: a JWT as the API server issues it, with no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"iss": "https://kubernetes.default.svc", "sub": account, "aud": [source.get("audience", "")],
              "iat": now, "exp": now + int(source.get("expirationSeconds", 3600))}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.")
    path.chmod(0o444)


def _decoded(data: Mapping[str, str]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def _dns_names(name: str, namespace: str) -> list[str]:
    """How a pod of ``namespace`` may name a Service (or ``hostname.subdomain``)."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


def _namespace(doc: dict[str, Any]) -> str:
    return doc["metadata"].get("namespace", "default")


def _annotation(doc: dict[str, Any], key: str) -> str:
    return (doc["metadata"].get("annotations") or {}).get(key, "")


def _template(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] == "Pod":
        return doc
    if doc["kind"] in ("Job", "Deployment"):
        return doc["spec"]["template"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]
    return None


def _suffix(name: str, index: int) -> str:
    """A pod name's random part, made deterministic so that reruns name the same pods."""
    return hashlib.sha256(f"{name}/{index}".encode()).hexdigest()[:5]
