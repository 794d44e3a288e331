"""charts/dlpipe as one release, its rendered pods run by tests/tooling/kubelet.py on one volume.

One-shot (ci/one-shot-values.yaml): ingest writes `sample:digits`, training waits in its init
container for the dataset version and exports a run named after its Job, the evaluation this chart
renders for that run waits for the export, blesses and publishes it, and TensorFlow Serving
(serve-local) serves it: Ready through the serving chart's readiness sidecar, answering the warm-up
request in its helm test; every stage's helm test passes. Continuous (ci/continuous-values.yaml):
the CronJobs' scheduled Jobs take a changed S3 source to a second dataset version, a second run
and a second version the running server loads by itself, and an unchanged one to nothing.
(What `helm upgrade` and `helm rollback` render is test_pipeline_chart.py's.)
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dlpipe.layout import Layout
from tests.tooling import charts
from tests.tooling.kubelet import Cluster, PodFailed
from tests.tooling.s3_server import ACCESS_KEY, SECRET_KEY
from tests.tooling.sample_data import make_npz

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fixed-ports")]  # the serving chart's ports, as rendered

CHART = charts.CHARTS / "dlpipe"
REST = "http://127.0.0.1:8501/v1/models/digits"  # the serving chart's TF Serving port, as rendered
# A few steps: what is checked is that the pods chain and run, not what they learn. The storage
# chart's prepare Job (a chown as root) is its own chart's test's; the stages make their folders.
SMALL = {
    "storage": {"prepare": {"enabled": False}},
    "train": {"config": {"train": {"max_steps": 30}}, "waitFor": {"seconds": 300}},
    "evaluate": {"waitFor": {"seconds": 300}, "config": {"evaluate": {"thresholds": ["accuracy>=0.2"]}}},
}


def render(ci: str, values: dict[str, Any], *sets: str) -> list[dict[str, Any]]:
    binary = charts.helm_binary(3) or charts.helm_binary(4)
    assert binary, "no helm binary: run scripts/setup.sh"
    case = charts.ValuesCase(CHART, CHART / "ci" / f"{ci}-values.yaml")
    extra = ["--values", str(charts.values_file(values))] + [a for s in sets for a in ("--set", s)]
    return charts.template(binary, case, "--namespace", "ml", *extra, release="pipeline")


def job_of(docs: list[dict[str, Any]], stage: str) -> str:
    [name] = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Job" and d["metadata"]["labels"]["app.kubernetes.io/name"] == stage
    ]
    return name


def served(version: int, seconds: float = 60) -> None:
    """Wait until TF Serving's REST API (serve-local) reports ``version`` AVAILABLE, as TF Serving polls."""
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(REST, timeout=5) as answer:
            states = {int(s["version"]): s["state"] for s in json.load(answer)["model_version_status"]}
        if states.get(version) == "AVAILABLE":
            return
        assert time.monotonic() < deadline, f"version {version} never AVAILABLE: {states}"
        time.sleep(0.5)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    (tmp_path / "volume").mkdir()
    with Cluster(tmp_path / "volume", work_dir=tmp_path / "pods", timeout=300) as running:
        yield running


def test_one_release_takes_sample_digits_to_a_served_blessed_model(cluster: Cluster) -> None:
    layout = Layout(cluster.volume)
    docs = render("one-shot", SMALL)
    cluster.apply(docs)
    ingest, train, evaluate = (job_of(docs, stage) for stage in ("ingest", "train", "evaluate"))
    assert cluster.run_jobs() == [ingest, train, evaluate]
    assert "digits@1: ok" in cluster.log(f"Job/{train}", "wait-dataset")
    assert f"{train}: ok" in cluster.log(f"Job/{evaluate}", "wait-export")  # the run is the training Job's
    blessing = json.loads(layout.run_paths(train).evaluation.blessing.read_text())
    assert blessing["blessed"] is True and layout.model_versions("digits") == [1]

    cluster.start("pipeline-serving-stable")  # Ready once the sidecar sees version 1 AVAILABLE
    assert cluster.run_tests() == [
        f"pipeline-{stage}-test" for stage in ("evaluate", "ingest", "serving", "storage", "train")
    ]


def test_a_stage_whose_input_never_comes_fails_naming_it(cluster: Cluster) -> None:
    docs = render("one-shot", {**SMALL, "ingest": {"enabled": False}, "train": {"waitFor": {"seconds": 1}}})
    cluster.apply(docs)
    with pytest.raises(PodFailed, match="digits"):
        cluster.run_jobs()
    assert not Layout(cluster.volume).run_ids()


def test_continuous_mode_serves_a_new_version_for_a_changed_source(
    cluster: Cluster, bucket: Any, moto_url: str, tmp_path: Path
) -> None:
    layout = Layout(cluster.volume)
    source = tmp_path / "d.npz"
    bucket.upload_file(str(make_npz(source, rows=90)), bucket.bucket, "raw/d.npz")
    port = int(moto_url.rsplit(":", 1)[1])
    s3 = {"kind": "Service", "metadata": {"name": "s3", "namespace": "ml"}, "spec": {"ports": [{"port": port}]}}
    values = {
        **SMALL,
        "ingest": {
            "config": {"ingest": {"source": f"s3://{bucket.bucket}/raw/"},
                       "s3": {"endpoint_url": f"http://s3.ml.svc.cluster.local:{port}", "addressing_style": "path"}},
            "s3": {"existingSecret": "keys"},
        },
        "evaluate": {"config": {"evaluate": {"bless_without_thresholds": True}}},
    }  # fmt: skip
    keys = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys", "namespace": "ml"},
            "stringData": {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}}  # fmt: skip
    cluster.apply([s3, keys, *render("continuous", values)])

    def tick(stage: str, n: int) -> str:
        return cluster.run_cronjob(f"pipeline-{stage}-continuous", f"pipeline-{stage}-continuous-{n}")

    for stage in ("ingest", "train", "evaluate"):
        tick(stage, 1)
    assert layout.dataset_versions("digits") == [1] and layout.model_versions("digits") == [1]
    cluster.start("pipeline-serving-stable")

    bucket.upload_file(str(make_npz(source, rows=120, seed=1)), bucket.bucket, "raw/d.npz")  # new data
    tick("ingest", 2)
    unchanged = tick("ingest", 3)
    assert "source unchanged, nothing published" in cluster.log(f"Job/{unchanged}", "ingest")
    assert layout.dataset_versions("digits") == [1, 2]
    tick("train", 2)
    runs = layout.run_ids()
    assert len(runs) == 2 and {run.rsplit("-", 1)[1] for run in runs} == {"v1", "v2"}
    tick("evaluate", 2)
    assert layout.model_versions("digits") == [1, 2]
    served(2)
