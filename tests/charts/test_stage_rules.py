"""A stage setting is refused at `helm install` exactly when `dlpipe <stage>` refuses it.

The charts' `config` value is dlpipe's configuration file. Rules JSON Schema can express live
in the package's schema, which the chart schemas embed: each case below goes to both sides, the
package (`load_config`, what every stage runs first) and helm 3 and 4, and both must refuse it
naming the same field, or both accept it. The rule JSON Schema cannot express (split fractions
adding up to 1) is a template check that prints the very message `dlpipe ingest` prints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dlpipe.config import load_config
from dlpipe.errors import ConfigError
from dlpipe.schemas import load_schema
from tests.tooling import charts

BASE = {
    "ingest": {"sharedVolume": {"claimName": "data"}, "config": {"ingest": {"source": "s3://b/k", "dataset": "d"}}},
    "evaluate": {"sharedVolume": {"claimName": "data"}, "config": {"run_id": "r", "evaluate": {"model_name": "m"}}},
}

# (stage, setting, value, refused?)
CASES: list[tuple[str, str, Any, bool]] = [
    ("ingest", "source", "ftp://example.com/data.zip", True),
    ("ingest", "source", "gs://bucket/data", True),
    ("ingest", "source", "s3:///no-bucket", True),
    ("ingest", "source", "https://example.com/a.tgz", False),
    ("ingest", "source", "raw/2024-01-01T00:00/data.csv", False),
    ("ingest", "source", "sample:digits", False),
    ("ingest", "splits", "train=80,validation=10,test=10", True),
    ("ingest", "splits", "train=0.8,validation=0,test=0.2", True),
    ("ingest", "splits", "train=1.5", True),
    ("ingest", "splits", "Train=0.5,test=0.5", True),
    ("ingest", "splits", "train = 0.7, test=.3", False),
    ("ingest", "splits", "all=1", False),
    ("evaluate", "thresholds", ["accuracy>=0..9"], True),
    ("evaluate", "thresholds", ["accuracy>=90"], True),
    ("evaluate", "thresholds", ["accuracy<=-0.5"], True),
    ("evaluate", "thresholds", ["auc>=1.01"], True),
    ("evaluate", "thresholds", ["loss<=-1"], True),
    ("evaluate", "thresholds", ["acuracy>=0.9"], True),
    ("evaluate", "thresholds", ["accuracy=>0.9"], True),
    ("evaluate", "thresholds", ["accuracy >= 0.9", "loss<=0.35", "top_5_accuracy>=.99", "examples>=1e3"], False),
    ("evaluate", "change_thresholds", ["accuracy>=2"], True),
    ("evaluate", "change_thresholds", ["accuracy>=-0.01", "macro_f1 <= 1", "loss<=-0.5"], False),
    ("evaluate", "split", "Test Set", True),
    ("evaluate", "split", "validation", False),
]


def _ids(case: tuple) -> str:
    stage, setting, value, refused = case
    return f"{stage}.{setting}={value}:{'refused' if refused else 'accepted'}"


def _dlpipe(stage: str, setting: str, value: Any, tmp_path: Path) -> str | None:
    """The package's verdict: None when accepted, else its message."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({stage: {setting: value}}))
    try:
        load_config(config_file=path, environ={})
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_the_package_and_the_chart_agree(helm: str, case: tuple, tmp_path: Path) -> None:
    stage, setting, value, refused = case
    package = _dlpipe(stage, setting, value, tmp_path)
    chart = charts.CHARTS / f"dlpipe-{stage}"
    values = BASE[stage] | {
        "config": {**BASE[stage]["config"], stage: {**BASE[stage]["config"][stage], setting: value}}
    }
    if not refused:
        assert package is None, package
        charts.template_values(helm, chart, values)
        return
    assert package is not None and f"{stage}.{setting}" in package, package
    field = f"config.{stage}.{setting}" + ("[0]" if isinstance(value, list) else "")
    message = charts.refusal(helm, chart, values)
    assert charts.names_field(message, field), message


@pytest.mark.parametrize(
    "splits", ["train=0.5,test=0.2", "train=0.7,validation=0.2,test=0.2", "train=0.5,train=0.5", "a=1,b=1,c=1"]
)
def test_split_sums_fail_with_the_message_of_dlpipe_ingest(helm: str, splits: str) -> None:
    from dlpipe.ingest.pipeline import parse_splits  # imports TensorFlow: not at collection

    with pytest.raises(ConfigError) as cli:
        parse_splits(splits)
    expected = str(cli.value).replace("--splits", "config.ingest.splits", 1)
    values = {**BASE["ingest"], "config": {"ingest": {**BASE["ingest"]["config"]["ingest"], "splits": splits}}}
    assert expected in charts.refusal(helm, charts.CHARTS / "dlpipe-ingest", values)


def test_threshold_metrics_are_the_ones_evaluate_computes() -> None:
    """The schema names the metrics a threshold may check: those dlpipe.evaluate.metrics computes."""
    from dlpipe.evaluate.metrics import compute

    pattern = load_schema("config")["$defs"]["threshold"]["pattern"]
    names = set(re.search(r"\((loss\|[^)]*)\)", pattern).group(1).split("|"))
    computed: set[str] = set()
    for classes in (["a", "b"], ["a", "b", "c", "d", "e", "f", "g"]):
        probabilities = np.full((len(classes), len(classes)), 0.5)
        metrics = compute(probabilities, np.arange(len(classes)), classes)
        computed |= {k for k, v in metrics.items() if isinstance(v, (int, float))}
    computed = {re.sub(r"^top_\d+_", "top_[1-9][0-9]*_", k) for k in computed}
    assert names == computed
