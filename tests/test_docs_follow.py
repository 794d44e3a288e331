"""The docs work as written: docs/walkthrough.md, README.md's "On a cluster" and the chart READMEs
are followed command by command from a fresh checkout, and so is every command the NOTES of each
install print, on the cluster as that install left it (tests/tooling/doc_follow.py).

Each ``helm install|upgrade`` renders with the real helm 4 (``install --dry-run=client``, which
also renders the NOTES; helm 3 renders them only against a cluster), with exactly the flags and
files the doc gives, from the folder the doc stands in. Names used later must be names earlier
steps produced: the claim of a storage release, the Secret a ``kubectl create secret`` made, the
dataset an ingest release writes, the run a train release starts, the model an evaluation
publishes, the Jobs, Services and labels kubectl is pointed at (tests/tooling/fake_cluster.py).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tooling import charts
from tests.tooling.doc_follow import Block, Follower, fresh_checkout, markdown_blocks, notes_commands

# The whole file takes turns with the other tests that serve on TF Serving's rendered ports: two of its
# tests do, and the flows they replay are followed once, in one process (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("fixed-ports")

WALKTHROUGH = Path("docs/walkthrough.md")
CHART_READMES = [Path(f"charts/dlpipe-{c}/README.md") for c in ("storage", "ingest", "train", "evaluate", "serving")]
PIPELINE_README = Path("charts/dlpipe/README.md")
FLOWS = ("walkthrough", "readme", "chart-readmes", "pipeline-readme")

# What a test machine's CPU forces on the walk-through's renders, and why: {release: {setting: (value, why)}}.
# Each is written into its release's rendered config (the ConfigMap its pods read); the rest runs as rendered.
CPU_DEVIATIONS: dict[str, dict[str, tuple[Any, str]]] = {
    "train": {
        "train.image_size": (32, "ResNet50's smallest input; 128 costs 16 times the CPU per step"),
        "train.batch_size": (16, "the sample download has 26 training images: a batch of 128 is none"),
        "train.epochs": (1, "one step on the CPU instead of 10 epochs on a GPU"),
    },
    "eval": {
        "evaluate.thresholds": (["accuracy>=0.0"], "one step does not make a classifier: 0.8 is out of reach"),
    },
}


def _helm4() -> str:
    binary = charts.helm_binary(4)
    if binary is None:
        pytest.fail("helm 4 is missing: run scripts/setup.sh (it installs helm 3 and 4 into .tools/bin)")
    return binary


def _flows(checkout: Path) -> dict[str, list[Block]]:
    """Each doc as the reader follows it. The chart READMEs name charts from the repository the
    walk-through adds (its step 0) and chain in the pipeline's order, each after the one before."""
    walkthrough = markdown_blocks(checkout / WALKTHROUGH)
    readmes = [b for path in CHART_READMES for b in markdown_blocks(checkout / path)]
    return {
        "walkthrough": walkthrough,
        "readme": markdown_blocks(checkout / "README.md", section="On a cluster"),
        "chart-readmes": walkthrough[:1] + readmes,
        "pipeline-readme": markdown_blocks(checkout / PIPELINE_README),
    }


@pytest.fixture(scope="module")
def followed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Follower]]:
    """Every flow followed once, in its own checkout (the renders are what the tests look at); each
    keeps serving its chart repository for the NOTES' installs until the module is done."""
    helm = _helm4()
    done: dict[str, Follower] = {}
    try:
        for name in FLOWS:
            folder = tmp_path_factory.mktemp(name)
            done[name] = follower = Follower(fresh_checkout(folder / "dlpipe"), folder / "home", helm)
            outcome = follower.follow(_flows(follower.checkout)[name])
            assert outcome.ok, f"{outcome.block.source}: {outcome.message}\n{outcome.block.text}"
        yield done
    finally:
        for follower in done.values():
            follower.close()


@pytest.mark.parametrize("flow", FLOWS)
def test_every_documented_command_works_in_order(followed: dict[str, Follower], flow: str) -> None:
    installed = {r["chart"] for r in followed[flow].renders()}
    stages = {f"dlpipe-{c.parent.name[7:]}" for c in CHART_READMES}
    expected = {"readme": {"dlpipe", "dlpipe-storage", "dlpipe-ingest"}, "walkthrough": {"dlpipe", *stages},
                "pipeline-readme": {"dlpipe"}}  # fmt: skip
    assert installed == expected.get(flow, stages), installed


@pytest.mark.parametrize("flow", FLOWS)
def test_every_command_the_notes_print_works(followed: dict[str, Follower], flow: str) -> None:
    """Run on the cluster as each install left it; the README flow installs from the checkout,
    where the charts the NOTES name as dlpipe/<chart> are charts/<chart> (as the README says)."""
    follower = followed[flow]
    seen, followed_notes = set(), 0
    for render in follower.renders():
        commands = tuple(notes_commands(render["notes"]))
        assert commands, f"the NOTES of {render['command']} print no command"
        if commands in seen:
            continue
        seen.add(commands)
        outcome = follower.follow_notes(render, charts_folder="charts/" if flow.endswith("readme") else None)
        assert outcome.ok, f"{outcome.block.source}: {outcome.message}\n{outcome.block.text}"
        followed_notes += 1
    assert followed_notes >= 2


def test_names_chain_through_the_walkthrough(followed: dict[str, Follower]) -> None:
    """The walk-through's names, as its renders made them (the follower refused any other)."""
    state = json.loads(followed["walkthrough"].state.read_text())
    assert {"ml/dataset/pets", "ml/run/pets-resnet-1", "ml/run/pets-resnet-2", "ml/model/pets"} <= set(state["made"])
    serving = state["releases"]["ml/serving"]["docs"]
    images = {c["image"] for d in serving if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert any(i.startswith("tensorflow/serving:") for i in images), "TF Serving stays upstream"
    assert any(i.startswith("registry.example.com/ml/dlpipe/") for i in images), images


def test_the_walkthrough_renders_with_helm_3(tmp_path: Path) -> None:
    """The same flow with helm 3 (helm template: the manifests and the names, not the NOTES)."""
    helm3 = charts.helm_binary(3)
    if helm3 is None:
        pytest.fail("helm 3 is missing: run scripts/setup.sh (it installs helm 3 and 4 into .tools/bin)")
    follower = Follower(fresh_checkout(tmp_path / "dlpipe"), tmp_path / "home", helm3)
    try:
        outcome = follower.follow(markdown_blocks(follower.checkout / WALKTHROUGH))
    finally:
        follower.close()
    assert outcome.ok, f"{outcome.block.source}: {outcome.message}\n{outcome.block.text}"
    assert len(follower.renders()) >= 10 and not any(r["notes"] for r in follower.renders())


def _values_files() -> list[Path]:
    found = [
        p
        for c in CHART_READMES
        for folder in ("ci", "examples")
        for p in (charts.REPO / c.parent / folder).glob("*.yaml")
    ]
    return sorted(p.relative_to(charts.REPO) for p in found)


@pytest.mark.parametrize("values", _values_files(), ids=str)
def test_the_notes_of_every_values_file_work(followed: dict[str, Follower], values: Path) -> None:
    """Each ci/ and examples/ values file installed beside the chart READMEs' storage release (the
    claim data-dlpipe-storage they name; the dataset, run or model a file names is taken as given):
    the commands its NOTES print work on that cluster."""
    follower = followed["chart-readmes"]
    storage = next(r for r in follower.renders() if r["command"][2] == "data")
    saved = follower.state.read_text()
    follower.state.write_text(Path(storage["snapshot"]).read_text())
    try:
        install = Block(str(values), f"DOCS_UNCHAINED=1 helm install notes-check dlpipe/{values.parts[1]} -f {values}")
        outcome = follower.follow([install])
        if outcome.ok:
            outcome = follower.follow_notes(follower.renders()[-1])
    finally:
        follower.state.write_text(saved)
    assert outcome.ok, f"{outcome.block.source}: {outcome.message}\n{outcome.block.text}"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (("--set config.run_id=pets-resnet-1 \\\n  --set config.evaluate", "--set config.run_id=pets-resnt-1 \\\n"
          "  --set config.evaluate"), "run 'pets-resnt-1' is used but no earlier step provides it"),
        (("dlpipe/dlpipe-storage --namespace ml -f images.yaml", "dlpipe/dlpipe-storage --namespace ml $IMAGES"),
         "relies on word splitting"),
        (("helm test pets --namespace ml --timeout 35m", "helm test pets --namespace ml"),
         "its test pod waits up to 1800s, but helm gives up after 300s"),
        (("kubectl get pvc data-dlpipe-storage", "kubectl get pvc data"), "PersistentVolumeClaim 'data' not found"),
        ((" \\\n  --set waitFor.enabled=true\n", "\n"), "would start before run 'pets-resnet-2' has an export"),
    ],
)  # fmt: skip
def test_a_broken_command_fails_the_follow(tmp_path: Path, change: tuple[str, str], refusal: str) -> None:
    """The doc test catches a mistake in the doc: a wrong name, a zsh-unsafe snippet, a short timeout."""
    text = (charts.REPO / WALKTHROUGH).read_text()
    assert change[0] in text, change[0]
    broken = text.replace(change[0], change[1], 1)
    follower = Follower(fresh_checkout(tmp_path / "dlpipe", {str(WALKTHROUGH): broken}), tmp_path / "home", _helm4())
    try:
        outcome = follower.follow(markdown_blocks(follower.checkout / WALKTHROUGH))
    finally:
        follower.close()
    assert not outcome.ok and refusal in outcome.message, outcome


@pytest.mark.slow
def test_the_readme_flow_runs_as_pods(followed: dict[str, Follower], tmp_path: Path) -> None:
    """README's "On a cluster", its pods run by tests/tooling/kubelet.py in the order it gives, on a
    fresh volume: no prepare Job, so `helm test data` is what creates the tree the stages share."""
    from dlpipe.layout import Layout
    from tests.tooling.kubelet import Cluster

    releases = json.loads(followed["readme"].state.read_text())["releases"]
    volume = tmp_path / "volume"
    volume.mkdir()
    with Cluster(volume, work_dir=tmp_path / "pods", timeout=240) as cluster:
        cluster.apply(releases["default/data"]["docs"])
        assert cluster.run_jobs() == [], "no prepare Job: the volume is used as provisioned"
        assert cluster.run_tests() == ["data-dlpipe-storage-test"]
        assert sorted(p.name for p in volume.iterdir() if not p.name.startswith(".")) == ["datasets", "models", "runs"]
        cluster.apply(releases["default/ingest"]["docs"])
        cluster.run_jobs()
        assert cluster.run_tests() == ["ingest-dlpipe-ingest-test"]
    assert Layout(volume).dataset_versions("digits") == [1]


@pytest.mark.slow
def test_the_readme_pipeline_runs_as_pods(followed: dict[str, Follower], tmp_path: Path) -> None:
    """README's one-command install, exactly as rendered, its pods run by tests/tooling/kubelet.py on a
    fresh volume: sample:digits to a blessed model served by serve-local, every stage's helm test."""
    from dlpipe.layout import Layout
    from tests.tooling.kubelet import Cluster

    pipeline = next(r for r in followed["readme"].renders() if r["chart"] == "dlpipe")
    docs = json.loads(Path(pipeline["snapshot"]).read_text())["releases"]["default/pipeline"]["docs"]
    volume = tmp_path / "volume"
    volume.mkdir()
    with Cluster(volume, work_dir=tmp_path / "pods", timeout=600) as cluster:
        cluster.apply(docs)
        assert len(cluster.run_jobs()) == 3, "ingest, train and the evaluation of its run"
        cluster.start("pipeline-serving-stable")  # Ready once the sidecar sees version 1 AVAILABLE
        assert len(cluster.run_tests()) == 5
    assert Layout(volume).model_versions("digits") == [1]


def _on_the_cpu(release: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``docs`` with CPU_DEVIATIONS written into the release's config; each setting must be rendered there."""
    docs = copy.deepcopy(docs)
    for doc in docs:
        if doc["kind"] == "ConfigMap" and "config.yaml" in doc.get("data", {}):
            config = yaml.safe_load(doc["data"]["config.yaml"])
            for key, (value, _) in CPU_DEVIATIONS.get(release, {}).items():
                section, name = key.split(".")
                assert name in config[section], f"{release}: {key} is not in its rendered config"
                config[section][name] = value
            doc["data"]["config.yaml"] = yaml.safe_dump(config)
    return docs


@pytest.mark.slow
def test_the_walkthrough_runs_as_pods(followed: dict[str, Follower], tmp_path: Path, moto_url: str) -> None:
    """docs/walkthrough.md's steps 1 to 5, its renders run by tests/tooling/kubelet.py in its order on a
    fresh volume, the images from the registry it pushed them to: the EFS volume (no prepare Job: `helm
    test data` makes the tree), the Kaggle download from S3 with the IAM role of the ingest's service
    account (EKS's webhook and STS emulated against moto, no key anywhere), ResNet50 asking for a GPU
    (run on the CPU), the evaluation waiting for the export, TF Serving (serve-local), every `helm test`,
    and `dlpipe predict --image` on a photo. Not replayed: TensorBoard's Deployment (its command is not
    one the harness runs) and step 6's retrain (a second ResNet50 run and evaluation: about 70 s more)."""
    import boto3

    from dlpipe.layout import Layout
    from tests.tooling.kubelet import DLPIPE, Cluster
    from tests.tooling.s3_server import ACCESS_KEY, SECRET_KEY
    from tests.tooling.sample_data import make_pets_download, zip_contents

    download = make_pets_download(tmp_path / "download", per_class=16)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)  # fmt: skip
    s3.create_bucket(Bucket="datasets")
    s3.upload_file(str(zip_contents(download, tmp_path / "kaggle.zip")), "datasets", "kagglecatsanddogs_5340.zip")
    renders = followed["walkthrough"].renders()

    def step(verb: str, release: str) -> list[dict[str, Any]]:
        """The first `helm <verb> <release>` of the walk-through (those after it are its alternatives)."""
        render = next(r for r in renders if r["command"][1:3] == [verb, release])
        releases = json.loads(Path(render["snapshot"]).read_text())["releases"]
        return _on_the_cpu(release, releases[f"ml/{release}"]["docs"])

    volume = tmp_path / "volume"
    volume.mkdir()
    layout = Layout(volume)
    with Cluster(volume, work_dir=tmp_path / "pods", timeout=300, registry="registry.example.com/ml", gpus="cpu",
                 aws_endpoint=moto_url) as cluster:  # fmt: skip
        cluster.apply(step("install", "data"))
        assert cluster.run_jobs() == [], "EFS through an access point: no prepare Job"
        assert cluster.run_tests("data") == ["data-dlpipe-storage-test"]
        cluster.apply(step("install", "pets"))
        (ingest,) = cluster.run_jobs()
        assert (cluster.pods[f"Job/{ingest}"][0].folder / "volumes" / "aws-iam-token" / "token").is_file(), "IRSA"
        assert cluster.run_tests("pets") == ["pets-dlpipe-ingest-test"]
        cluster.apply(step("install", "train"))
        cluster.run_jobs()
        assert cluster.run_tests("train") == ["train-dlpipe-train-test"]
        cluster.apply(step("install", "eval"))
        cluster.run_jobs()
        assert cluster.run_tests("eval") == ["eval-dlpipe-evaluate-test"]
        cluster.apply(step("install", "serving"))
        cluster.start("serving-dlpipe-serving-stable")  # Ready once the sidecar sees pets 1 AVAILABLE
        assert cluster.run_tests("serving") == ["serving-dlpipe-serving-test"]
        photo = download / "PetImages" / "Cat" / "1.jpg"
        predicted = subprocess.run([DLPIPE, "predict", "--url", "http://localhost:8501", "--model", "pets",
                                    "--image", str(photo)], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert predicted.returncode == 0, predicted.stderr
        assert re.fullmatch(r"pets version 1:\n  1\.jpg: (Cat|Dog) [\d.]+%; next (Cat|Dog) [\d.]+%\n", predicted.stdout)
        assert {"Cat", "Dog"} <= set(re.findall(r"[A-Z][a-z]+", predicted.stdout)), predicted.stdout

        manifest = json.loads(layout.manifest_path("pets", 1).read_text())
        assert manifest["label"]["classes"] == ["Cat", "Dog"]
        assert sum(split["examples"] for split in manifest["splits"].values()) == 32, "16 photos of each"
        assert manifest["skipped"] == {"corrupt image": 1, "not an image": 1, "file outside the class folders": 2}
        assert layout.run_paths("pets-resnet-1").export.is_complete()
        assert layout.model_versions("pets") == [1]
    blessing = json.loads(layout.run_paths("pets-resnet-1").evaluation.blessing.read_text())
    assert blessing["blessed"] and blessing["model_name"] == "pets", blessing
