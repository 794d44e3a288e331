"""The cluster tests' measuring, offline: requests built from TF Serving's metadata, the bounded
request loop, the readiness rule, and the command-line options the cluster tests read."""

from __future__ import annotations

import itertools

import pytest

from tests.cluster import conftest
from tests.cluster.traffic import ReadinessLog, RequestLoop, instance_from_metadata, poll

# GET /v1/models/digits/metadata as TF Serving answers it (its REST JSON of GetModelMetadataResponse).
METADATA = {
    "model_spec": {"name": "digits", "signature_name": "", "version": "2"},
    "metadata": {
        "signature_def": {
            "signature_def": {
                "serving_default": {
                    "inputs": {
                        "pixels": {
                            "dtype": "DT_FLOAT",
                            "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "2", "name": ""},
                                                     {"size": "3", "name": ""}], "unknown_rank": False},
                            "name": "serving_default_pixels:0",
                        },
                        "tag": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1", "name": ""}]},
                                "name": "serving_default_tag:0"},
                    },
                    "outputs": {},
                    "method_name": "tensorflow/serving/predict",
                }
            }
        }
    },
}  # fmt: skip


def test_a_request_row_has_every_input_at_its_shape_without_the_batch_dimension() -> None:
    assert instance_from_metadata(METADATA) == {"pixels": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], "tag": ""}


def test_an_input_of_unknown_size_or_type_is_refused_naming_it() -> None:
    inputs = METADATA["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    unknown = {**inputs, "free": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "-1"}]}}}
    odd = {**inputs, "odd": {"dtype": "DT_VARIANT", "tensor_shape": {"dim": [{"size": "-1"}]}}}
    for changed, message in ((unknown, "input free: a dimension of unknown size"), (odd, "input odd: no zero value")):
        metadata = {"metadata": {"signature_def": {"signature_def": {"serving_default": {"inputs": changed}}}}}
        with pytest.raises(ValueError, match=message):
            instance_from_metadata(metadata)


def test_the_request_loop_counts_answers_by_version_and_keeps_each_failure() -> None:
    replies = itertools.cycle([1, 1, ConnectionResetError("reset by peer"), 2])

    def send() -> int:
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    loop = RequestLoop(send, interval=0, max_requests=8)
    loop.run()
    assert loop.answers == {1: 4, 2: 2} and loop.total == 8
    assert loop.failures == ["ConnectionResetError: reset by peer"] * 2


def test_the_request_loop_stops_when_asked() -> None:
    loop = RequestLoop(lambda: 1, interval=0.01).start()
    poll(lambda: loop.total > 10, timeout=30, every=0.01, what="a few requests")
    loop.stop()
    stopped_at = loop.total
    assert 10 < stopped_at < loop.max_requests and loop.total == stopped_at and not loop.failures


def test_ready_before_the_version_is_available_is_a_violation() -> None:
    log = ReadinessLog()
    log.record("new-1", ready=False, available=False)  # loading
    log.record("new-1", ready=False, available=True)  # loaded; the sidecar has not said so yet
    log.record("new-1", ready=True, available=True)
    assert not log.violations and log.ready_pods == {"new-1"}
    log.record("new-2", ready=True, available=False)
    assert log.violations == ["new-2 was Ready while its version was not AVAILABLE"]


def test_poll_names_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="waited 0 s for the moon"):
        poll(lambda: False, timeout=0.05, every=0.01, what="the moon")


def test_the_kubeconfig_comes_from_the_option_else_kubeconfig_else_none(monkeypatch: pytest.MonkeyPatch) -> None:
    class Config:
        def __init__(self, value: str | None) -> None:
            self.value = value

        def getoption(self, name: str, default: object = None) -> object:
            return self.value if name == "kubeconfig" else default

    monkeypatch.setenv("KUBECONFIG", "/from/env")
    assert conftest.kubeconfig(Config("/given")) == "/given"  # type: ignore[arg-type]
    assert conftest.kubeconfig(Config(None)) == "/from/env"  # type: ignore[arg-type]
    monkeypatch.delenv("KUBECONFIG")
    assert conftest.kubeconfig(Config(None)) is None  # type: ignore[arg-type]
