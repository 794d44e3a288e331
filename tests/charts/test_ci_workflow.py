"""The chart-testing workflow (.github/workflows/charts.yaml) against what it claims to test.

What a runner would only find out after an hour is checked here: actionlint with shellcheck on
every `run:` script; ct install gets no `--set` and tests upgrades; pull requests are linted in
changed-chart mode (so version bumps are checked); the matrix covers Helm 3 and 4 and the oldest
and newest Kubernetes minor the charts claim, on node images pinned by digest; the images built
and loaded are exactly those the ci/ values run; every ci/ file renders as written and holds
only what kind can install, within a 2-CPU runner beside kind's control plane; and the data the
stage charts' ci/ values pass along (runs, published versions, models) adds up.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tooling import charts, images
from tools.charts import REPO, package_version

WORKFLOW = REPO / ".github" / "workflows" / "charts.yaml"
BIN = Path(sys.executable).parent
CI_CASES = [case for case in charts.values_cases() if case.values and case.values.parent.name == "ci"]
# The stage charts in pipeline order: each one's ci/ values read what the previous ones wrote.
PIPELINE = ["dlpipe-storage", "dlpipe-ingest", "dlpipe-train", "dlpipe-evaluate", "dlpipe-serving"]

# A runner with 2 CPUs and 7 GB: kind's control plane requests 950m CPU (apiserver 250m,
# controller-manager 200m, scheduler, etcd, kindnet 100m each, CoreDNS 2 x 100m) and uses ~1.5 GB.
KIND_CPU_MILLI = 2000 - 950
KIND_MEMORY_MI = 4096
# Kinds of object kind runs without extra controllers or hardware.
NOT_ON_KIND = {"Ingress", "HorizontalPodAutoscaler", "TFJob", "ServiceMonitor", "HTTPRoute", "GRPCRoute"}
# What tests/cluster/test_continuous_on_cluster.py publishes before ct installs dlpipe-serving.
CONTINUOUS_TEST_PUBLISHES = {"digits": 1}


def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return loaded


def steps(job: str) -> list[dict[str, Any]]:
    return workflow()["jobs"][job]["steps"]


def commands(job: str, program: str) -> list[list[str]]:
    """Each `program ...` command line of a job's `run:` scripts, split as the shell would."""
    found = []
    for step in steps(job):
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == [program]:
                found.append(words)
    return found


def option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


# -- the workflow as such ------------------------------------------------------------------------
def test_workflows_pass_actionlint_with_shellcheck() -> None:
    files = sorted(str(p.relative_to(REPO)) for p in REPO.glob(".github/workflows/*.yaml"))
    result = subprocess.run(
        [str(BIN / "actionlint"), "-shellcheck", str(BIN / "shellcheck"), *files],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_job_has_a_timeout_and_third_party_actions_are_pinned_by_commit() -> None:
    for name, job in workflow()["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, name
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses and not uses.startswith("actions/"):
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{name}: {uses} is not pinned"


def test_pull_requests_lint_changed_charts_so_version_bumps_are_checked() -> None:
    lint = {step["if"]: step["run"] for step in steps("lint") if "run" in step}
    pull = shlex.split(lint["github.event_name == 'pull_request'"])
    push = shlex.split(lint["github.event_name != 'pull_request'"])
    assert pull[:2] == ["ct", "lint"] and "--all" not in pull and "--charts" not in pull, "ct checks no bump then"
    assert option(pull, "--target-branch") == "$TARGET_BRANCH"
    assert "--check-version-increment=false" not in pull
    assert "--all" in push
    config = yaml.safe_load((REPO / "ct.yaml").read_text())
    assert config["check-version-increment"] is True and config["target-branch"] == "main"
    assert (REPO / config["lint-conf"]).is_file() and (REPO / config["chart-yaml-schema"]).is_file()


def test_ct_install_tests_every_chart_in_pipeline_order_with_upgrades_and_no_overrides() -> None:
    installs = commands("cluster", "ct")
    # The stage charts one by one, then all of them in one release (the pipeline chart).
    assert [option(words, "--charts") for words in installs] == [f"charts/{name}" for name in [*PIPELINE, "dlpipe"]]
    assert {c.name for c in charts.chart_dirs() if (c / "ci").is_dir()} == {*PIPELINE, "dlpipe"}
    for words in installs:
        assert words[:2] == ["ct", "install"] and "--upgrade" in words, words
        assert not any(w.startswith(("--set", "--helm-extra-set-args", "--values", "-f")) for w in words), words
        assert option(words, "--target-branch") == "$TARGET_BRANCH"
    for words in commands("cluster", "helm"):  # the shared volume: a ci file as written
        assert not any(w.startswith("--set") for w in words), words


def test_the_matrix_covers_helm_3_and_4_and_the_oldest_and_newest_claimed_kubernetes() -> None:
    matrix = workflow()["jobs"]["cluster"]["strategy"]["matrix"]
    assert sorted(int(v.removeprefix("v").split(".")[0]) for v in matrix["helm"]) == [3, 4]
    assert all(re.fullmatch(r"v\d+\.\d+\.\d+", v) for v in matrix["helm"]), "pinned, not `latest`"
    claimed = {v.rsplit(".", 1)[0] for chart in charts.chart_dirs() for v in charts.kube_versions(chart)}
    oldest, newest = min(claimed, key=_minor), max(claimed, key=_minor)
    clusters = matrix["kubernetes"]
    assert sorted(c["minor"] for c in clusters) == sorted({oldest, newest})
    for cluster in clusters:
        node = re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}", cluster["node"])
        assert node and node[1] == cluster["minor"], f"{cluster['node']}: pin the {cluster['minor']} image by digest"
        assert cluster["kubectl"] == cluster["node"].split(":")[1].split("@")[0], "kubectl of the cluster's version"
        assert re.fullmatch(r"v0\.\d+\.\d+", cluster["kind"]), "the kind release that built the node image"


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# -- images ------------------------------------------------------------------------------------------
def _workflow_images() -> tuple[set[str], set[str]]:
    env = workflow()["env"]
    return set(env["STAGE_IMAGES"].split()), set(env["UPSTREAM_IMAGES"].split())


def test_the_images_built_are_those_of_images_stages_each_with_its_extra() -> None:
    listed = {}
    for line in (REPO / "images" / "stages").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            stage, _base, extra = line.split()
            listed[stage] = "" if extra == "-" else extra
    assert set(listed) == set(images.stages())
    built = {}
    for step in steps("images"):
        if step.get("uses", "").startswith("docker/build-push-action@"):
            given = step["with"]
            args = dict(line.split("=", 1) for line in given["build-args"].splitlines())
            built[given["target"]] = args["EXTRA"]
            assert given["tags"] == f"dlpipe/dlpipe-{given['target']}:${{{{ steps.version.outputs.version }}}}"
            assert given["file"] == "images/Dockerfile" and given["load"] is True
            assert args["BASE_IMAGE"] == "${{ env.CI_BASE_IMAGE }}"
            assert given["cache-from"] == f"type=gha,scope={given['target']}", "each stage its own cache"
    assert built == listed
    stage_images, _ = _workflow_images()
    assert stage_images == {f"dlpipe/dlpipe-{stage}" for stage in listed}


def _images(document: Any) -> Iterator[str]:
    """Every container image a rendered manifest runs (containers, init containers, any depth)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("containers", "initContainers"):
                yield from (container["image"] for container in value)
            else:
                yield from _images(value)
    elif isinstance(document, list):
        for item in document:
            yield from _images(item)


def test_the_images_loaded_into_kind_are_exactly_those_the_ci_values_run() -> None:
    binary = charts.helm_binary(3) or charts.helm_binary(4)
    assert binary, "no helm: run scripts/setup.sh"
    version = package_version()
    referenced = {image for case in CI_CASES for image in _images(charts.template(binary, case))}
    stage_images, upstream = _workflow_images()
    assert referenced == {f"{image}:{version}" for image in stage_images} | upstream


def test_the_image_list_check_would_see_a_drifted_name() -> None:
    manifest = {
        "spec": {"template": {"spec": {"initContainers": [{"image": "a:1"}], "containers": [{"image": "b:2"}]}}}
    }
    assert set(_images([manifest, {"spec": {"containers": [{"image": "c:3"}]}}])) == {"a:1", "b:2", "c:3"}


# -- ci/ values: as written, on kind -------------------------------------------------------------
def _rendered(case: charts.ValuesCase) -> list[dict[str, Any]]:
    binary = charts.helm_binary(3) or charts.helm_binary(4)
    assert binary, "no helm: run scripts/setup.sh"
    return charts.template(binary, case)  # --values only: no --set


def _quantity_milli(value: str | int) -> int:
    text = str(value)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def _quantity_mi(value: str | int) -> int:
    text = str(value)
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text) // (1024 * 1024)


def requested(documents: list[dict[str, Any]]) -> tuple[int, int]:
    """CPU (milli) and memory (Mi) requested at once at the busiest moment of a ct install + helm
    test + helm upgrade: every Deployment's replicas plus the one pod a rolling update adds, every
    Job's parallel pods, one pod of each CronJob, and the test pods."""
    cpu = memory = 0
    for doc in documents:
        kind, spec = doc["kind"], doc.get("spec", {})
        if kind == "Pod":
            count, pod = 1, spec
        elif kind == "Deployment":
            count, pod = spec.get("replicas", 1) + 1, spec["template"]["spec"]
        elif kind == "Job":
            count, pod = spec.get("parallelism", 1), spec["template"]["spec"]
        elif kind == "CronJob":
            count, pod = 1, spec["jobTemplate"]["spec"]["template"]["spec"]
        else:
            continue
        for container in pod["containers"]:
            requests = container.get("resources", {}).get("requests", {})
            cpu += count * _quantity_milli(requests.get("cpu", 0))
            memory += count * _quantity_mi(requests.get("memory", 0))
    return cpu, memory


def test_the_request_sum_counts_replicas_surge_and_test_pods() -> None:
    pod = {"containers": [{"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}]}
    documents = [
        {"kind": "Deployment", "spec": {"replicas": 2, "template": {"spec": pod}}},
        {"kind": "Job", "spec": {"parallelism": 2, "template": {"spec": pod}}},
        {"kind": "Pod", "spec": {"containers": [{"resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}}}]}},
        {"kind": "ConfigMap", "data": {}},
    ]
    assert requested(documents) == (3 * 100 + 2 * 100 + 500, 3 * 256 + 2 * 256 + 1024)


@pytest.mark.parametrize("case", CI_CASES, ids=lambda c: c.id)
def test_ci_values_render_as_written_and_fit_kind_on_a_two_cpu_runner(case: charts.ValuesCase) -> None:
    documents = _rendered(case)
    assert documents
    assert not {d["kind"] for d in documents} & NOT_ON_KIND, "that mode belongs in examples/"
    for doc in documents:
        text = yaml.safe_dump(doc)
        assert "nvidia.com/gpu" not in text, f"{doc['kind']} asks for a GPU: kind has none (examples/)"
        assert "nodeSelector" not in text and "tolerations" not in text, "kind's one node has no special labels"
        if doc["kind"] == "PersistentVolumeClaim":
            assert doc["spec"]["storageClassName"] == "dlpipe-ci", "the class .github/kind/storage.yaml makes"
    cpu, memory = requested(documents)
    assert cpu <= KIND_CPU_MILLI, f"{cpu}m CPU requested; kind leaves {KIND_CPU_MILLI}m on a 2-CPU runner"
    assert memory <= KIND_MEMORY_MI, f"{memory}Mi requested; keep it under {KIND_MEMORY_MI}Mi"


# -- ci/ values: the data they pass along --------------------------------------------------------
def _values(chart: str) -> dict[str, dict[str, Any]]:
    folder = charts.CHARTS / chart / "ci"
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*-values.yaml"))}


def published_by_ci() -> dict[str, int]:
    """How many versions of each model exist once ct has installed dlpipe-evaluate and the
    continuous-evaluation cluster test has run: a run is published once per model name."""
    runs = {v["config"]["run_id"] for v in _values("dlpipe-train").values()}
    publications: set[tuple[str, str]] = set()
    for name, values in _values("dlpipe-evaluate").items():
        run = values["config"].get("run_id")
        if run is None:
            continue  # continuous: no run of its own (see CONTINUOUS_TEST_PUBLISHES)
        assert run in runs, f"dlpipe-evaluate/ci/{name} evaluates {run}, which no dlpipe-train ci file trains"
        assert values["tests"]["requireBlessed"] is True, f"{name}: the helm test must fail on an unblessed run"
        publications.add((values["config"]["evaluate"]["model_name"], run))
    counts = dict(CONTINUOUS_TEST_PUBLISHES)
    for model, _run in publications:
        counts[model] = counts.get(model, 0) + 1
    return counts


def test_serving_ci_values_serve_versions_and_models_ci_publishes() -> None:
    published = published_by_ci()
    modes = _values("dlpipe-serving")
    wanted = {"pinned-canary-values.yaml", "latest-values.yaml", "two-models-values.yaml"}
    assert wanted <= set(modes)
    pinned = modes["pinned-canary-values.yaml"]
    assert 0 < pinned["model"]["version"] < pinned["canary"]["version"] <= published["digits"]
    latest = modes["latest-values.yaml"]["model"]
    assert latest["version"] == "latest" and published["digits"] > pinned["canary"]["version"], (
        "latest must follow a version that neither the pinned nor the canary pods serve"
    )
    for values in modes.values():
        for model in [values["model"], *values.get("models", [])]:
            version = model.get("version", "latest")
            assert model["name"] in published, f"nothing publishes {model['name']}"
            assert version == "latest" or version <= published[model["name"]], model
    assert any(values.get("models") for values in modes.values()), "a second model in one server"


def test_the_continuous_mode_has_a_cluster_test_that_waits_for_its_schedule() -> None:
    continuous = [v for v in _values("dlpipe-evaluate").values() if v.get("continuous", {}).get("enabled")]
    assert len(continuous) == 1
    assert continuous[0]["continuous"]["schedule"] == "* * * * *", "the cluster test waits for one minute's run"
    test = REPO / "tests" / "cluster" / "test_continuous_on_cluster.py"
    assert "continuous-values.yaml" in test.read_text()
    assert any(test.name in " ".join(words) for step in steps("cluster") for words in [step.get("run", "").split()])
