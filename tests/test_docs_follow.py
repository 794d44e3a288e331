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

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tooling import charts
from tests.tooling.doc_follow import Block, Follower, fresh_checkout, markdown_blocks, notes_commands

WALKTHROUGH = Path("docs/walkthrough.md")
CHART_READMES = [Path(f"charts/dlpipe-{c}/README.md") for c in ("storage", "ingest", "train", "evaluate", "serving")]
PIPELINE_README = Path("charts/dlpipe/README.md")
FLOWS = ("walkthrough", "readme", "chart-readmes", "pipeline-readme")


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
