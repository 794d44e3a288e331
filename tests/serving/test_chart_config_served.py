"""serve-local, given the ModelServerConfig the serving chart renders, serves the versions and labels
TensorFlow Serving would serve from it.

Each case renders the chart with helm, takes a model config from its ConfigMap and the TF Serving
flags of the Deployment that reads it, publishes versions 1-3 of the toy model (tests/serving/toy.py:
version v answers x = [0.5, 1.25] with sum v + 1.75) under ``models/digits`` of a temporary root,
and asks serve-local over HTTP. The expected answers follow TF Serving's source (2.21 line):

- which versions are served: ``sources/storage_path/file_system_storage_path_source.cc``
  (latest N: the N highest on disk; specific: those of them on disk; all: every one);
- status lists the versions the policy took on, all AVAILABLE, and ignores a label in the path
  (``model_servers/get_model_status_impl.cc``);
- a label resolves through the config's ``version_labels``; one the config lacks is 400
  "Unrecognized servable version label" (``model_servers/server_core.cc``, ``GetModelVersionForLabel``);
- a request naming no version gets the highest one available; a version not served is 404
  (``core/basic_manager.cc``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dlpipe.layout import Layout
from dlpipe.serving import local
from tests.serving.conftest import place, wait_for
from tests.tooling import charts, tf_serving
from tests.tooling.net import free_port

CHART = charts.CHARTS / "dlpipe-serving"
ON_DISK = {1, 2, 3}
X = [0.5, 1.25]


def _helm() -> str:
    binary = charts.helm_binary(4) or charts.helm_binary(3)
    assert binary, "no helm: run scripts/setup.sh"
    return binary


def rendered(values: str | None, sets: tuple[str, ...], config: str) -> tuple[str, list[str]]:
    """The chart's ``config`` file and the TF Serving flags of the Deployment that reads it."""
    case = charts.ValuesCase(CHART, CHART / values if values else None)
    base = () if values else ("sharedVolume.claimName=data", "model.name=digits")
    docs = charts.template(_helm(), case, *[a for s in (*base, *sets) for a in ("--set", s)])
    text = next(d for d in docs if d["kind"] == "ConfigMap" and config in d.get("data", {}))["data"][config]
    tf_serving.parse_model_config(text)  # what TF Serving itself would read
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        if f"--model_config_file=/etc/tf-serving/{config}" in args:
            return text, args
    raise AssertionError(f"no Deployment reads {config}")


CASES = {
    # id: (values file, --set, config file, versions served, labels, what a plain request gets)
    "pinned": ("ci/pinned-canary-values.yaml", (), "models.config", {1}, {"stable": 1}, 1),
    "pinned, its canary": ("ci/pinned-canary-values.yaml", (), "canary.models.config", {2}, {"canary": 2}, 2),
    "latest": ("ci/latest-values.yaml", (), "models.config", {3}, {}, 3),
    "labels": ("examples/labels-values.yaml", (), "models.config", {1, 2}, {"stable": 1, "canary": 2}, 2),
    "latest 2, labelled": (None, ("model.versionPolicy.latest=2", "model.labels.stable=2", "model.labels.next=3"),
                           "models.config", {2, 3}, {"stable": 2, "next": 3}, 3),
    "all": (None, ("model.versionPolicy.all=true",), "models.config", {1, 2, 3}, {}, 3),
    "specific, one missing": (None, ("model.versionPolicy.specific={1,7}", "model.labels.old=1",
                                     "model.labels.future=7"), "models.config", {1}, {"old": 1, "future": 7}, 1),
}  # fmt: skip


@pytest.fixture
def volume(tmp_path: Path, toy_builds: dict[int, Path]) -> Layout:
    layout = Layout(tmp_path / "volume")
    for version in ON_DISK:
        place(toy_builds[version], layout.model_dir("digits"), version)
    return layout


def _call(port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/digits{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _predicted_by(port: int, target: str) -> int:
    status, answer = _call(port, f"{target}:predict", {"instances": [{"x": X, "tag": "a"}]})
    assert status == 200, answer
    return round(answer["predictions"][0]["sum"] - sum(X))


def check_served(port: int, versions: set[int], labels: dict[str, int], plain: int) -> None:
    status, answer = _call(port, "")
    assert status == 200, answer
    states = {int(s["version"]): s["state"] for s in answer["model_version_status"]}
    assert states == dict.fromkeys(versions, "AVAILABLE")
    for label, version in labels.items():
        assert _call(port, f"/labels/{label}") == (status, answer), "status ignores the label"
        if version in versions:
            code, metadata = _call(port, f"/labels/{label}/metadata")
            assert code == 200 and metadata["model_spec"]["version"] == str(version), metadata
            assert _predicted_by(port, f"/labels/{label}") == version
        else:  # TF Serving starts with it (the chart's flag) and answers NOT_FOUND for it
            code, error = _call(port, f"/labels/{label}:predict", {"instances": [{"x": X, "tag": "a"}]})
            assert code == 404 and f"Specific(digits, {version})" in error["error"], error
    code, error = _call(port, "/labels/nope/metadata")
    assert code == 400 and "Unrecognized servable version label: nope" in error["error"], error
    for version in ON_DISK:
        code, _ = _call(port, f"/versions/{version}/metadata")
        assert code == (200 if version in versions else 404), version
    assert _predicted_by(port, "") == plain


@pytest.mark.parametrize("case", CASES)
def test_serve_local_serves_what_tf_serving_would_from_the_charts_config(
    tmp_path: Path, volume: Layout, case: str
) -> None:
    values, sets, config, versions, labels, plain = CASES[case]
    text, args = rendered(values, sets, config)
    path = tmp_path / config
    path.write_text(text)
    # serve-local's flags as `dlpipe serve-local --model-config-file FILE` passes them, with TF Serving's
    # --allow_version_labels_for_unavailable_models as the chart sets it
    server = local.serve(
        volume,
        model_name=None,
        model_config_file=path,
        version_policy=None,
        version_labels=[],
        allow_labels_for_unavailable_models="--allow_version_labels_for_unavailable_models=true" in args,
        port=0,
        grpc_port=None,
        poll=3600.0,
        max_load_retries=None,
        load_retry_interval=None,
        grpc_max_message_bytes=None,
    )
    try:
        check_served(server.port, versions, labels, plain)
    finally:
        server.stop()


@pytest.fixture
def cli(tmp_path: Path, volume: Layout) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`dlpipe serve-local --model-config-file FILE` on the config of examples/labels-values.yaml."""
    text, args = rendered("examples/labels-values.yaml", (), "models.config")
    assert "--allow_version_labels_for_unavailable_models=true" in args
    config = tmp_path / "models.config"
    config.write_text(text)
    port = free_port()
    command = [sys.executable, "-m", "dlpipe", "serve-local", "--root", str(volume.root), "--model-config-file",
               str(config), "--allow-version-labels-for-unavailable-models", "--port", str(port)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{charts.REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with (tmp_path / "serve-local.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield port, process
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def test_the_command_line_serves_the_rendered_labels(cli: tuple[int, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    port, process = cli

    def answering() -> bool:
        try:
            return _call(port, "")[0] == 200
        except OSError:
            return process.poll() is not None

    assert wait_for(answering, seconds=120)
    assert process.poll() is None, (tmp_path / "serve-local.log").read_text()
    _, _, _, versions, labels, plain = CASES["labels"]
    check_served(port, versions, labels, plain)
