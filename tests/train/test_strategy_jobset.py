"""TF_CONFIG from a JobSet's pod environment (the jobset and trainjob backends): what each
worker computes, and one clear line when its environment is not the chart's."""

from __future__ import annotations

import json

import pytest

from dlpipe.errors import ConfigError
from dlpipe.train.strategy import resolve_tf_config, tf_config_for_jobset

TRAIN = {"workers": 2, "port": 2222, "service": "run-1a2b3c4d"}
POD_1 = {"JOBSET_NAME": "run-1a2b3c4d", "JOBSET_REPLICATED_JOB": "worker", "JOBSET_JOB_INDEX": "0",
         "JOB_COMPLETION_INDEX": "1"}  # fmt: skip


def test_a_jobset_worker_names_the_hosts_jobset_gives_its_pods() -> None:
    assert resolve_tf_config(TRAIN, POD_1) == {
        "cluster": {
            "worker": ["run-1a2b3c4d-worker-0-0.run-1a2b3c4d:2222", "run-1a2b3c4d-worker-0-1.run-1a2b3c4d:2222"]
        },
        "task": {"type": "worker", "index": 1},
    }
    trainer = {**POD_1, "JOBSET_REPLICATED_JOB": "node", "JOB_COMPLETION_INDEX": "0"}
    assert resolve_tf_config(TRAIN, trainer)["cluster"]["worker"][1] == "run-1a2b3c4d-node-0-1.run-1a2b3c4d:2222"
    assert (
        tf_config_for_jobset("js", "worker", 0, "sub", 3, 2, 1234)["cluster"]["worker"][2] == "js-worker-0-2.sub:1234"
    )


def test_a_given_tf_config_wins_and_one_worker_needs_none() -> None:
    given = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}
    assert resolve_tf_config(TRAIN, {**POD_1, "TF_CONFIG": json.dumps(given)}) == given
    assert resolve_tf_config({**TRAIN, "workers": 1}, POD_1) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"JOBSET_JOB_INDEX": None}, "needs JOBSET_JOB_INDEX"),
        ({"JOB_COMPLETION_INDEX": None}, "needs JOB_COMPLETION_INDEX"),
        ({"JOBSET_REPLICATED_JOB": None}, "needs JOBSET_REPLICATED_JOB"),
        ({"JOBSET_JOB_INDEX": "1"}, "the workers must be the pods of one Job"),
        ({"JOB_COMPLETION_INDEX": "one"}, "JOB_COMPLETION_INDEX='one' is not an index"),
    ],
)
def test_an_environment_that_is_not_the_charts_fails_in_one_line(change: dict, expected: str) -> None:
    environ = {k: v for k, v in {**POD_1, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=expected) as caught:
        resolve_tf_config(TRAIN, environ)
    assert "\n" not in str(caught.value)


def test_no_service_fails_before_anything_else() -> None:
    with pytest.raises(ConfigError, match=r"needs train\.service"):
        resolve_tf_config({"workers": 2, "port": 2222}, POD_1)
