"""Which tf.distribute strategy a run uses, and the TF_CONFIG of an Indexed Job or a JobSet.

- ``TF_CONFIG`` already set (Kubeflow TFJob, or by hand): taken as given.
- A JobSet of several workers (``jobset`` backend, or the JobSet a Kubeflow Trainer
  ``TrainJob`` runs): the chart passes the pod's JobSet labels as ``JOBSET_NAME``,
  ``JOBSET_REPLICATED_JOB`` and ``JOBSET_JOB_INDEX``; with ``JOB_COMPLETION_INDEX`` from
  Kubernetes, TF_CONFIG is built from the host names JobSet gives its pods,
  ``<jobset>-<replicated job>-<job index>-<pod index>.<subdomain>``.
- An Indexed Job of several workers (``JOB_COMPLETION_INDEX`` from Kubernetes,
  the Job's name from its pod label): TF_CONFIG is built from the pods' stable
  host names ``<job>-<index>.<headless service>``.
- Otherwise several GPUs in the pod: ``MirroredStrategy``; one GPU: ``OneDeviceStrategy``
  (batches prefetched to the GPU); else the default strategy (``default`` asks for it anywhere).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dlpipe.errors import ConfigError, DlpipeError


def tf_config_for_indexed_job(job: str, service: str, workers: int, index: int, port: int) -> dict[str, Any]:
    hosts = [f"{job}-{i}.{service}:{port}" for i in range(workers)]
    return {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}


def tf_config_for_jobset(
    jobset: str, replicated_job: str, job_index: int, subdomain: str, workers: int, index: int, port: int
) -> dict[str, Any]:
    # A JobSet names its child Jobs <jobset>-<replicated job>-<job index>; each is an Indexed
    # Job whose pods JobSet puts on the subdomain, so the host names are an Indexed Job's.
    return tf_config_for_indexed_job(f"{jobset}-{replicated_job}-{job_index}", subdomain, workers, index, port)


def _required(environ: Mapping[str, str], names: tuple[str, ...], workers: int, hint: str) -> None:
    for needed in names:
        if needed not in environ:
            raise ConfigError(f"train.workers={workers} needs {needed}", hint)


def _index(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise ConfigError(
            f"{name}={environ[name]!r} is not an index: the pod's environment is not the chart's"
        ) from None


def resolve_tf_config(train: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any] | None:
    if environ.get("TF_CONFIG"):
        try:
            return json.loads(environ["TF_CONFIG"])
        except json.JSONDecodeError:
            raise ConfigError("TF_CONFIG is not valid JSON") from None
    workers = int(train["workers"])
    if workers <= 1:
        return None
    if not train.get("service"):
        raise ConfigError(f"train.workers={workers} needs train.service: the headless Service of the workers")
    if "JOBSET_NAME" in environ:
        names = ("JOBSET_REPLICATED_JOB", "JOBSET_JOB_INDEX", "JOB_COMPLETION_INDEX")
        _required(environ, names, workers, "run as the chart's JobSet or TrainJob, or set TF_CONFIG")
        job_index = _index(environ, "JOBSET_JOB_INDEX")
        if job_index != 0:
            # The workers are the pods of one Job; a second Job of the same replicated job would
            # train on its own with a cluster it is no part of.
            raise ConfigError(
                f"JOBSET_JOB_INDEX={job_index}: the workers must be the pods of one Job",
                "give the JobSet's replicated job replicas: 1 and as many pods (completions) as workers",
            )
        return tf_config_for_jobset(
            environ["JOBSET_NAME"], environ["JOBSET_REPLICATED_JOB"], job_index, train["service"],
            workers, _index(environ, "JOB_COMPLETION_INDEX"), int(train["port"]),
        )  # fmt: skip
    _required(
        environ, ("JOB_COMPLETION_INDEX", "JOB_NAME"), workers, "run as the chart's Indexed Job, or set TF_CONFIG"
    )
    index = _index(environ, "JOB_COMPLETION_INDEX")
    return tf_config_for_indexed_job(environ["JOB_NAME"], train["service"], workers, index, int(train["port"]))


@dataclass
class Placement:
    strategy: Any
    is_chief: bool
    worker_index: int
    workers: int


def choose(kind: str, train: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Placement:
    import tensorflow as tf

    environ = os.environ if environ is None else environ
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) < train.get("gpus", 0):
        raise DlpipeError(
            f"train.gpus is {train['gpus']}, but TensorFlow sees {len(gpus)} GPU(s): this would train on the CPU",
            "run the GPU image (images/stages: tensorflow-gpu) on a node whose NVIDIA driver works (nvidia-smi)",
        )
    tf_config = resolve_tf_config(train, environ)
    if kind == "multi-worker" or (kind == "auto" and tf_config):
        if not tf_config:
            raise ConfigError(
                "--strategy multi-worker needs TF_CONFIG or train.workers > 1 in an Indexed Job or a JobSet"
            )
        os.environ["TF_CONFIG"] = json.dumps(tf_config)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = tf_config.get("task", {})
        cluster = tf_config.get("cluster", {})
        index = int(task.get("index", 0))
        chief = task.get("type") == "chief" or ("chief" not in cluster and task.get("type") == "worker" and index == 0)
        return Placement(strategy, chief, index, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        return Placement(tf.distribute.MirroredStrategy(), True, 0, 1)
    if kind == "auto" and gpus:
        # Its input pipeline copies the next batches to the GPU while a step runs; the default strategy
        # leaves the copy to the step itself.
        return Placement(tf.distribute.OneDeviceStrategy("/gpu:0"), True, 0, 1)
    return Placement(tf.distribute.get_strategy(), True, 0, 1)
