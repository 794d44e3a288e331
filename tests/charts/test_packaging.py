"""scripts/charts.sh: `package` makes a chart repository that helm installs from its index.yaml;
`lint` passes on the charts and names what is wrong in a broken copy."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.tooling import charts
from tools import chart_lint
from tools.charts import package_version

SCRIPT = charts.REPO / "scripts" / "charts.sh"


def put_on_path(helm: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tools take the first ``helm`` on PATH: make it ``helm``."""
    folder.mkdir()
    (folder / "helm").symlink_to(helm)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.setenv("HELM_CACHE_HOME", "/tmp/dlpipe-helm/cache")
    monkeypatch.setenv("HELM_CONFIG_HOME", "/tmp/dlpipe-helm/config")
    return helm


@pytest.fixture
def helm_on_path(helm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return put_on_path(helm, tmp_path / "bin", monkeypatch)


def test_repository_installs_from_its_index(helm_on_path: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = subprocess.run([str(SCRIPT), "package", "--out", str(repo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    version = package_version()
    packaged = {p.name for p in repo.glob("*.tgz")}
    assert packaged == {f"{c.name}-{version}.tgz" for c in charts.chart_dirs(kind=None)}
    assert result.stdout.count("packaged ") == len(packaged)
    index = yaml.safe_load((repo / "index.yaml").read_text())
    for name, entries in index["entries"].items():
        assert entries[0]["appVersion"] == version, name
    assert not list(charts.CHARTS.glob("*/*.tgz")), "packaging wrote into the checkout"

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(repo))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        out = charts.run_helm(helm_on_path, "template", "ingest", "dlpipe-ingest", "--repo", url,
                              "--set", "sharedVolume.claimName=data", "--set", "config.ingest.source=sample:digits",
                              "--set", "config.ingest.dataset=digits").stdout  # fmt: skip
        # The pipeline chart carries the stage charts, each with the library chart inside.
        pipeline = charts.run_helm(helm_on_path, "template", "pipeline", "dlpipe", "--repo", url, "--values",
                                   str(charts.CHARTS / "dlpipe" / "ci" / "one-shot-values.yaml")).stdout  # fmt: skip
    finally:
        server.shutdown()
    kinds = [doc["kind"] for doc in yaml.safe_load_all(out) if doc]
    assert "Job" in kinds and "ConfigMap" in kinds
    assert f'image: "dlpipe/dlpipe-ingest:{version}"' in out
    stages = {doc["metadata"]["labels"]["app.kubernetes.io/name"] for doc in yaml.safe_load_all(pipeline) if doc}
    assert stages == {"storage", "ingest", "train", "evaluate", "serving"}


def test_lint_passes(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """With helm 4, as the workflow's lint job runs it: every case's render with helm 3 and 4 is
    validated by test_render_and_validate.py already."""
    helm4 = charts.helm_binary(4)
    assert helm4, "helm 4 is missing: run scripts/setup.sh"
    put_on_path(helm4, tmp_path / "bin", monkeypatch)
    checkout = tmp_path / "charts"  # lint builds each chart's charts/: not under the other tests' renders
    shutil.copytree(charts.CHARTS, checkout, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    assert chart_lint.main(["--charts", str(checkout)]) == 0
    assert capsys.readouterr().out.strip().endswith("all charts pass")


def test_lint_names_a_mistake(helm_on_path: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "charts"
    for name in ("dlpipe-common", "dlpipe-storage"):  # a mistake in one chart: lint that one (and its library)
        shutil.copytree(charts.CHARTS / name, broken / name, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    values = broken / "dlpipe-storage" / "ci" / "kind-values.yaml"
    values.write_text(values.read_text() + "persistnce:\n  size: 1Gi\n")
    assert chart_lint.main(["--charts", str(broken)]) == 1
    assert "persistnce" in capsys.readouterr().out


@pytest.mark.parametrize("args", [[], ["publish"]], ids=["nothing", "unknown"])
def test_script_refuses_other_actions(args: list[str]) -> None:
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True)
    assert result.returncode == 2 and "usage: scripts/charts.sh package|lint" in result.stderr
