"""`dlpipe evaluate` end to end: exit codes, reports, publishing, retention, mismatches."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlpipe.errors import EXIT_NOT_BLESSED
from dlpipe.evaluate import publish
from dlpipe.export import lineage_run_id
from dlpipe.layout import ExportPaths, Layout
from tests.tooling.sample_data import make_csv, run_cli


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits with a weak run (2 steps) and a strong one (300 steps); iris for mismatches."""
    root = tmp_path_factory.mktemp("vol")
    iris = make_csv(tmp_path_factory.mktemp("src") / "iris.csv")
    assert run_cli("ingest", "--root", str(root), "--source", "sample:digits", "--dataset", "digits") == 0
    assert run_cli("ingest", "--root", str(root), "--source", str(iris), "--dataset", "iris", "--label", "species") == 0
    for run_id, steps in (("weak", "2"), ("strong", "300")):
        args = ["train", "--root", str(root), "--dataset", "digits", "--run-id", run_id, "--max-steps", steps]
        assert run_cli(*args) == 0
    return root


def evaluate(root: Path, run_id: str, *extra: str) -> int:
    return run_cli("evaluate", "--root", str(root), "--run-id", run_id, "--model-name", "digits", *extra)


@pytest.fixture(scope="module")
def baseline(volume: Path) -> str:
    """The strong run evaluated, blessed and published as digits version 1 (what weak runs are compared
    with), whichever of the tests that need it runs first; what that evaluation printed."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert evaluate(volume, "strong", "--threshold", "accuracy>=0.8") == 0
    return out.getvalue()


def test_blessing_publishing_and_the_baseline(volume: Path, baseline: str, capsys: pytest.CaptureFixture) -> None:
    layout = Layout(volume)
    out = baseline
    assert "run strong: blessed" in out and "published as digits version 1" in out
    assert "helm upgrade <serving-release> dlpipe/dlpipe-serving --reset-then-reuse-values --set model.version=1" in out
    assert layout.model_versions("digits") == [1]
    assert lineage_run_id(layout.model_version("digits", 1)) == "strong", "lineage travels"

    # The weak run: fine by the absolute threshold it meets, but worse than the served model.
    assert (
        evaluate(volume, "weak", "--threshold", "accuracy>=0.0", "--change-threshold", "accuracy>=0.0")
        == EXIT_NOT_BLESSED
    )
    out = capsys.readouterr().out
    assert re.search(r"NOT blessed \(change accuracy -0\.\d+ \(0\.\d+ vs baseline 0\.\d+\) >= 0: FAIL\)", out)
    assert "try: the published model scores better: train longer with --epochs, try another model" in out
    blessing = json.loads(layout.run_paths("weak").evaluation.blessing.read_text())
    assert blessing["blessed"] is False and blessing["baseline_version"] == 1
    change = blessing["checks"][1]
    assert change["kind"] == "change" and change["baseline"] > change["value"] and change["passed"] is False
    assert layout.model_versions("digits") == [1], "nothing published"

    # Evaluating the published run again does not publish it twice.
    assert evaluate(volume, "strong", "--threshold", "accuracy>=0.8") == 0
    assert "already published as digits version 1" in capsys.readouterr().out


def test_report_and_metrics_files(volume: Path, baseline: str) -> None:
    evaluation = Layout(volume).run_paths("strong").evaluation
    metrics = json.loads(evaluation.metrics.read_text())["candidate"]
    assert metrics["examples"] == 180 and len(metrics["confusion_matrix"]) == 10 and "top_5_accuracy" in metrics
    page = evaluation.report.read_text()
    assert "BLESSED" in page and page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page, "self-contained: no external assets"
    for picture in (evaluation.confusion_matrix, evaluation.roc_pr_curves, evaluation.training_curves):
        assert picture.read_bytes()[:4] == b"\x89PNG"


def test_the_report_compares_with_the_published_model(volume: Path, baseline: str) -> None:
    """The weak run, evaluated against the published strong one: a table with both and the change, no JSON."""
    assert evaluate(volume, "weak", "--threshold", "accuracy>=0.0") == EXIT_NOT_BLESSED
    page = Layout(volume).run_paths("weak").evaluation.report.read_text()
    assert "<th>this run</th><th>published (version 1)</th><th>change</th>" in page
    row = re.search(r"<tr><td>accuracy</td><td class='n'>(0\.\d{4})</td><td class='n'>(0\.\d{4})</td>"
                    r'<td class="n worse">(-0\.\d{4})</td></tr>', page)  # fmt: skip
    assert row and float(row[1]) - float(row[2]) == pytest.approx(float(row[3]), abs=1e-4)
    assert re.search(r'<td>loss</td>.*?<td class="n worse">\+\d', page), "a higher loss is worse"
    assert '<li class="FAIL">change accuracy -0.' in page and "<pre>" not in page


def test_the_default_policy_no_thresholds_and_no_publish_flag(
    volume: Path, baseline: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert evaluate(volume, "weak") == EXIT_NOT_BLESSED
    out = capsys.readouterr().out
    assert re.search(r"NOT blessed \(accuracy 0\.\d+ >= 0\.8: FAIL; change accuracy -0\.\d+ ", out), "the defaults"
    assert "try: train longer with --epochs, try another model with --model, or lower the bar with --threshold" in out
    none = tmp_path / "none.yaml"
    none.write_text("evaluate:\n  thresholds: []\n  change_thresholds: []\n")
    assert evaluate(volume, "weak", "--config", str(none)) == EXIT_NOT_BLESSED
    assert "no thresholds configured" in capsys.readouterr().out
    assert evaluate(volume, "weak", "--bless-without-thresholds", "--no-publish") == 0
    out = capsys.readouterr().out
    assert "blessed (blessed without checking thresholds, as asked)" in out and "published" not in out


def test_signature_that_does_not_match_the_dataset(volume: Path, capsys: pytest.CaptureFixture) -> None:
    assert evaluate(volume, "strong", "--dataset", "iris", "--split", "train") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the signature takes (image:float32) but the dataset has (colour:string" in err[0]


def test_missing_run_and_bad_threshold(volume: Path, capsys: pytest.CaptureFixture) -> None:
    assert evaluate(volume, "nope") == 1
    assert "run nope has no export" in capsys.readouterr().err
    assert evaluate(volume, "strong", "--threshold", "accuracy=0.9") == 2


def test_retention_never_removes_the_baseline(volume: Path, tmp_path: Path) -> None:
    layout = Layout(volume)
    runs = _exports(volume, tmp_path, ["r1", "r2", "r3", "r4"])
    versions = [publish.publish(layout, "kept", ExportPaths(Path(export))) for export in runs]
    assert versions == [1, 2, 3, 4]
    removed = publish.retain(layout, "kept", keep=1, protect={2, 4})
    assert removed == [1, 3]
    assert layout.model_versions("kept") == [2, 4]
    assert not [p for p in layout.model_dir("kept").iterdir() if p.name.startswith(".tmp-")]


def _publish_one(root: str, model: str, export: str, queue: multiprocessing.Queue) -> None:
    queue.put(publish.publish(Layout(Path(root)), model, ExportPaths(Path(export))))


def _exports(volume: Path, tmp_path: Path, runs: list[str]) -> list[str]:
    """Copies of a real export whose lineage names ``runs`` (one copy each)."""
    copies = []
    for index, run_id in enumerate(runs):
        copy = ExportPaths(tmp_path / f"export-{index}")
        shutil.copytree(Layout(volume).run_paths("weak").export.dir, copy.dir)
        copy.lineage.write_text(json.dumps({**json.loads(copy.lineage.read_text()), "run_id": run_id}))
        copies.append(str(copy.dir))
    return copies


def _publish_at_once(volume: Path, model: str, exports: list[str]) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_publish_one, args=(str(volume), model, export, queue)) for export in exports]
    for worker in workers:
        worker.start()
    got = sorted(queue.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(60)
    return got


def test_concurrent_publishes_of_three_runs_get_distinct_versions(volume: Path, tmp_path: Path) -> None:
    assert _publish_at_once(volume, "race", _exports(volume, tmp_path, ["r1", "r2", "r3"])) == [1, 2, 3]
    assert Layout(volume).model_versions("race") == [1, 2, 3]


def test_one_run_published_three_times_at_once_is_published_once(volume: Path, tmp_path: Path) -> None:
    got = _publish_at_once(volume, "once", _exports(volume, tmp_path, ["same"] * 3))
    layout = Layout(volume)
    (version,) = set(got)
    assert layout.model_versions("once") == [version], "the later copies are removed"
    assert lineage_run_id(layout.model_version("once", version)) == "same"
    (again,) = _exports(volume, tmp_path / "again", ["same"])
    assert publish.publish(layout, "once", ExportPaths(Path(again))) == version, "published before: the same version"


def test_publish_killed_half_way_leaves_no_visible_version(volume: Path, tmp_path: Path) -> None:
    export = ExportPaths(tmp_path / "big-export")
    (export.dir / "variables").mkdir(parents=True)
    for i in range(40):
        (export.dir / "variables" / f"part-{i}").write_bytes(bytes([i]) * (1 << 20))
    export.saved_model.write_bytes(b"model")
    code = ("import sys; from pathlib import Path; from dlpipe.evaluate.publish import publish; "
            "from dlpipe.layout import ExportPaths, Layout; print('go', flush=True); "
            "publish(Layout(Path(sys.argv[1])), 'killed', ExportPaths(Path(sys.argv[2])))")  # fmt: skip
    layout, rng = Layout(tmp_path / "vol"), random.Random(7)
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(layout.root), str(export.dir)], stdout=subprocess.PIPE
        )
        assert child.stdout is not None and child.stdout.readline().strip() == b"go"
        time.sleep(rng.uniform(0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait()
        for version in layout.model_versions("killed"):
            parts = list((layout.model_version_dir("killed", version) / "variables").iterdir())
            assert len(parts) == 40, "a visible version is whole"
    assert publish.publish(layout, "killed", export) == max(layout.model_versions("killed"))


def test_blessing_show_and_pending(volume: Path, baseline: str, capsys: pytest.CaptureFixture) -> None:
    assert run_cli("blessing", "show", "strong", "--root", str(volume), "--require-blessed") == 0
    out = capsys.readouterr().out
    assert out.startswith("strong: blessed") and re.search(r"^  accuracy 0\.\d+ >= 0\.8: pass$", out, re.M)
    assert evaluate(volume, "weak") == EXIT_NOT_BLESSED  # the default threshold fails
    assert run_cli("blessing", "show", "weak", "--root", str(volume), "--require-blessed") == EXIT_NOT_BLESSED
    assert run_cli("blessing", "show", "never", "--root", str(volume), "--wait", "0.1") == 1
    capsys.readouterr()
    for dataset in ("digits", "iris"):
        args = ["--dataset", dataset, "--max-steps", "3", "--run-id", f"fresh-{dataset}"]
        assert run_cli("train", "--root", str(volume), *args) == 0
    capsys.readouterr()
    pending = ["evaluate", "--root", str(volume), "--bless-without-thresholds"]
    assert run_cli(*pending, "--model-name", "pending-model", "--pending=digits") == 0  # iris's is another pipeline's
    assert "run fresh-digits: blessed" in capsys.readouterr().out
    assert run_cli(*pending, "--model-name", "pending-model", "--pending", "digits") == 0
    assert "no finished runs waiting for an evaluation (of dataset digits)" in capsys.readouterr().out
    assert run_cli(*pending, "--model-name", "iris", "--pending") == 0  # of any dataset
    assert "run fresh-iris: blessed" in capsys.readouterr().out
    assert run_cli(*pending, "--model-name", "iris", "--pending") == 0
    assert "no finished runs waiting for an evaluation\n" in capsys.readouterr().out
    assert run_cli(*pending, "--model-name", "iris", "--pending=Iris") == 2  # not a dataset name
