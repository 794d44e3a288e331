"""checkov (`--framework kubernetes`) finds nothing in what the charts render.

Every chart x values case is rendered with helm 3 and helm 4; checkov runs once, over the
distinct renderings (the two helms render the same text), with the repository's .checkov.yaml.
A check skipped for every resource is listed there with its reason; one skipped for a single
resource is a `checkov.io/skipN: CHECK=reason` annotation on it.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.tooling import charts

CONFIG = charts.REPO / ".checkov.yaml"


def _checkov() -> str:
    binary = Path(sys.executable).with_name("checkov")
    if not binary.exists():
        pytest.fail("checkov is missing: scripts/setup.sh installs it (the test extra of pyproject.toml)")
    return str(binary)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("renders")
    for major in charts.HELM_MAJORS:
        binary = charts.helm_binary(major)
        assert binary, f"no helm {major}: run scripts/setup.sh"
        for case in charts.values_cases():
            text = charts.template_text(binary, case)
            name = f"{case.id.replace(':', '_').replace('/', '_')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
            (folder / f"{name}.yaml").write_text(text)
    result = subprocess.run(
        [_checkov(), "--config-file", str(CONFIG), "--directory", str(folder), "--compact", "--output", "json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    found = json.loads(result.stdout)
    found["renders"] = sorted(p.name for p in folder.glob("*.yaml"))
    return found


def test_every_case_is_checked_once_per_distinct_render(report: dict[str, Any]) -> None:
    cases = charts.values_cases()
    assert len(cases) <= len(report["renders"]) <= 2 * len(cases)
    assert report["summary"]["resource_count"] > 0 and report["summary"]["parsing_errors"] == 0


def test_no_check_fails(report: dict[str, Any]) -> None:
    failed = [
        f"{f['check_id']} {f['check_name']}: {f['resource']} in {f['file_path']}"
        for f in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)


def test_every_skip_has_a_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert all(s["check_result"].get("suppress_comment", "").strip() for s in skipped), skipped
    lines = CONFIG.read_text().splitlines()
    skip_lines = [i for i, line in enumerate(lines) if re.match(r"\s*- CKV", line)]
    assert skip_lines, "no skip-check list in .checkov.yaml"
    for i in skip_lines:
        assert lines[i - 1].lstrip().startswith("#"), f".checkov.yaml: give the reason above {lines[i].strip()}"


def test_skips_in_templates_say_why() -> None:
    templates = [p for p in charts.CHARTS.glob("*/templates/**/*") if p.is_file()]
    annotations = [m for p in templates for m in re.findall(r"checkov\.io/skip\d+: (\S+)", p.read_text())]
    assert annotations, "the prepare Job and the helm test pods carry their skips"
    assert all(re.match(r"CKV2?_K8S_\d+=\S", a) for a in annotations), annotations
