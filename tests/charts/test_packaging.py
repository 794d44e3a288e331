"""`dlpipe charts package` makes a chart repository that helm installs from its index.yaml."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from dlpipe import __version__
from dlpipe.charts_command import package
from tests.tooling import charts


def test_repository_installs_from_its_index(helm: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(helm).parent}:{__import__('os').environ['PATH']}")
    repo = tmp_path / "repo"
    packaged = package(charts.CHARTS, repo)
    assert {p.name for p in packaged} == {f"{c.name}-0.1.0.tgz" for c in charts.chart_dirs(kind=None)}
    index = yaml.safe_load((repo / "index.yaml").read_text())
    for name, entries in index["entries"].items():
        assert entries[0]["appVersion"] == __version__, name

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(repo))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        out = charts.run_helm(helm, "template", "ingest", "dlpipe-ingest", "--repo", url,
                              "--set", "sharedVolume.claimName=data", "--set", "config.ingest.source=sample:digits",
                              "--set", "config.ingest.dataset=digits").stdout  # fmt: skip
    finally:
        server.shutdown()
    kinds = [doc["kind"] for doc in yaml.safe_load_all(out) if doc]
    assert "Job" in kinds and "ConfigMap" in kinds
    assert f'image: "dlpipe/dlpipe-ingest:{__version__}"' in out


def test_charts_lint_command(helm: str, tmp_path: Path, monkeypatch, capsys) -> None:
    import shutil

    from dlpipe.cli import main

    monkeypatch.setenv("PATH", f"{Path(helm).parent}:{__import__('os').environ['PATH']}")
    monkeypatch.chdir(charts.REPO)
    assert main(["charts", "lint"]) == 0
    assert capsys.readouterr().out.strip().endswith("all charts pass")
    broken = tmp_path / "charts"
    shutil.copytree(charts.CHARTS, broken, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    values = broken / "dlpipe-storage" / "ci" / "kind-values.yaml"
    values.write_text(values.read_text() + "persistnce:\n  size: 1Gi\n")
    assert main(["charts", "lint", "--charts", str(broken)]) == 1
    assert "persistnce" in capsys.readouterr().out
