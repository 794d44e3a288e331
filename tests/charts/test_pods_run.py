"""The stage charts' ci values, rendered by helm and run by tests/tooling/kubelet.py, in order on one volume.

What chart-testing installs on kind, minus the cluster: the storage Job prepares the volume, ingest
writes `sample:digits`, train (a few steps) exports `digits-cnn-ci`, evaluate blesses and publishes
it, and TF Serving (serve-local) serves it with its readiness sidecar, checked by each chart's helm
test. A mismatch between what a chart renders and what the CLI accepts (a flag, a variable, a mount
path, a config key) fails here with the pod's last log lines. The ci modes that need a cluster's
machinery (GPUs, two pods on one port) are refused, and the test says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dlpipe.layout import Layout
from tests.tooling import charts
from tests.tooling.kubelet import Cluster, Refused
from tests.tooling.s3_server import ACCESS_KEY, SECRET_KEY
from tests.tooling.sample_data import make_npz

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fixed-ports")]  # the serving chart's ports, as rendered

# Few steps of the ci model: what is checked is that the pods run, and that it learns enough to
# pass the evaluate ci values' threshold (three times chance).
TINY_TRAINING = ("--set", "config.train.epochs=1", "--set", "config.train.max_steps=60")


def render(chart: str, values: str, release: str, *extra: str) -> list[dict[str, Any]]:
    """``values``: a ci file's mode (``single``), or a path inside the chart (``examples/gpu-values.yaml``)."""
    folder = charts.CHARTS / chart
    binary = charts.helm_binary(3) or charts.helm_binary(4)
    assert binary, "no helm binary: run scripts/setup.sh"
    case = charts.ValuesCase(folder, folder / (values if "/" in values else f"ci/{values}-values.yaml"))
    return charts.template(binary, case, "--namespace", "ml", *extra, release=release)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    volume = tmp_path_factory.mktemp("volume")
    with Cluster(volume, work_dir=tmp_path_factory.mktemp("pods"), timeout=240) as running:
        yield running


def test_the_stage_charts_ci_values_run_in_order_on_one_volume(cluster: Cluster) -> None:
    layout = Layout(cluster.volume)
    # Release "data": the claim data-dlpipe-storage that the other charts' ci values name.
    cluster.apply(render("dlpipe-storage", "kind", "data"))
    if os.geteuid() == 0:
        assert cluster.run_jobs() == ["data-dlpipe-storage-prepare"]
        assert layout.datasets_dir.is_dir() and layout.models_dir.is_dir()
    else:  # the prepare Job chowns as root; the stages make the folders they need themselves
        with pytest.raises(Refused, match=r"Job/data-dlpipe-storage-prepare: .*runAsUser: 0 needs root"):
            cluster.run_jobs()

    cluster.apply(render("dlpipe-ingest", "kind", "ingest"))
    cluster.run_jobs()
    assert layout.dataset_versions("digits") == [1]

    cluster.apply(render("dlpipe-train", "single", "train", *TINY_TRAINING))
    cluster.run_jobs()
    assert layout.run_paths("digits-cnn-ci").export.is_complete()

    cluster.apply(render("dlpipe-evaluate", "single", "evaluate"))
    cluster.run_jobs()
    assert layout.model_versions("digits") == [1]
    blessing = json.loads(layout.run_paths("digits-cnn-ci").evaluation.blessing.read_text())
    assert blessing["blessed"] is True

    cluster.apply(render("dlpipe-evaluate", "continuous", "watch"))
    cluster.run_cronjob("watch-dlpipe-evaluate-continuous")
    assert layout.model_versions("digits") == [1]  # nothing new to publish: the run is evaluated

    serving = render("dlpipe-serving", "latest", "serving")
    cluster.apply(serving)
    pod = cluster.start("serving-dlpipe-serving-stable")  # ready: the sidecar sees version 1 AVAILABLE
    assert "serving digits" in pod.log("tf-serving")
    with pytest.raises(Refused, match=r"Deployment/serving-dlpipe-serving-demo: ports \[8080\] are held"):
        cluster.start("serving-dlpipe-serving-demo")  # beside the sidecar's 8080: one address here

    # Each chart's helm test: the volume, the dataset, the export, the blessing, and predictions over
    # REST and gRPC through the serving Service's name.
    assert cluster.run_tests() == [
        "data-dlpipe-storage-test",
        "evaluate-dlpipe-evaluate-test",
        "ingest-dlpipe-ingest-test",
        "serving-dlpipe-serving-test",
        "train-dlpipe-train-test",
    ]


@pytest.mark.parametrize(
    ("chart", "values", "reason"),
    [
        ("dlpipe-train", "multi-worker", r"ports \[2222\] are held by Job/w-dlpipe-train-\w+ pod"),
        ("dlpipe-train", "examples/multi-gpu-values.yaml", r"resources.limits: \['nvidia.com/gpu'\] are not emulated"),
        ("dlpipe-serving", "examples/gpu-values.yaml", r"resources.limits: \['nvidia.com/gpu'\] are not emulated"),
    ],
    ids=["train-multi-worker", "train-multi-gpu", "serving-gpu"],
)
def test_modes_that_need_a_cluster_are_refused(tmp_path: Path, chart: str, values: str, reason: str) -> None:
    with Cluster(tmp_path, work_dir=tmp_path / "pods") as cluster:
        cluster.apply(render(chart, values, "w"))
        with pytest.raises(Refused, match=reason):
            cluster.start("w-dlpipe-serving-stable") if chart == "dlpipe-serving" else cluster.run_jobs()


def test_ingest_reads_s3_through_a_service_name_with_the_keys_of_its_secret(
    tmp_path: Path, bucket: Any, moto_url: str
) -> None:
    """The ingest chart's ci values, the source moved to S3: the pod has only what the chart gives it."""
    bucket.upload_file(str(make_npz(tmp_path / "d.npz", rows=60)), bucket.bucket, "raw/d.npz")
    port = int(moto_url.rsplit(":", 1)[1])
    s3 = {"kind": "Service", "metadata": {"name": "s3", "namespace": "ml"}, "spec": {"ports": [{"port": port}]}}
    values = [
        "--set", f"config.ingest.source=s3://{bucket.bucket}/raw/d.npz", "--set", "config.ingest.dataset=blobs",
        "--set", f"config.s3.endpoint_url=http://s3.ml.svc.cluster.local:{port}",
        "--set", "config.s3.addressing_style=path", "--set", "s3.existingSecret=keys",
    ]  # fmt: skip
    keys = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    (tmp_path / "volume").mkdir()
    with Cluster(tmp_path / "volume", work_dir=tmp_path / "pods", secrets={"keys": keys}) as cluster:
        cluster.apply([s3, *render("dlpipe-ingest", "kind", "ingest", *values)])
        cluster.run_jobs()
    assert Layout(tmp_path / "volume").dataset_versions("blobs") == [1]
