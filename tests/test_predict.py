"""`dlpipe predict` from inputs a person has, against a stand-in for TF Serving's REST API.

The stand-in answers the model's metadata (or 404, as a server without that
call does) and records each predict request, so the tests see exactly what
would be sent and how each kind of answer is shown.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dlpipe.cli import main
from dlpipe.commands.predict import describe


@dataclass
class Server:
    """What the stand-in serves: the signature's inputs (None: no metadata call) and each answer's rows.

    Without metadata the client must name the version: TF Serving's REST answer does not say which version
    answered, so otherwise the client asks the metadata first.
    """

    inputs: dict[str, str] | None
    rows: Callable[[list[Any]], list[Any]]
    requests: list[Any] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def serving() -> Iterator[Callable[..., Server]]:
    servers: list[ThreadingHTTPServer] = []

    def start(inputs: dict[str, str] | None, rows: Callable[[list[Any]], list[Any]]) -> Server:
        state = Server(inputs, rows)

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models/m/metadata" and state.inputs is not None:
                    inputs = {name: {"dtype": kind, "name": f"{name}:0"} for name, kind in state.inputs.items()}
                    signature = {"serving_default": {"inputs": inputs, "outputs": {}}}
                    self._send(200, {"model_spec": {"name": "m", "version": "3"},
                                     "metadata": {"signature_def": {"signature_def": signature}}})  # fmt: skip
                else:
                    self._send(404, {"error": f"unknown path {self.path}"})

            def do_POST(self) -> None:
                instances = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["instances"]
                state.requests.append(instances)
                self._send(200, {"predictions": state.rows(instances), "model_version": "3"})

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.server_port}"
        return state

    yield start
    for server in servers:
        server.shutdown()


def predict(server: Server, *argv: str) -> int:
    return main(["predict", "--url", server.url, "--model", "m", *argv])


def test_an_image_goes_base64_encoded_to_the_one_string_input_and_the_answer_names_classes(
    serving: Callable[..., Server], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(b"\xff\xd8 not really a jpeg")
    answer = {"probabilities": [0.09, 0.91], "classes": ["dog", "cat"], "scores": [0.91, 0.09], "class_ids": [1, 0]}
    server = serving({"image_bytes": "DT_STRING"}, lambda instances: [answer for _ in instances])
    assert predict(server, "--image", str(cat)) == 0
    assert server.requests == [[{"image_bytes": {"b64": base64.b64encode(cat.read_bytes()).decode()}}]]
    assert capsys.readouterr().out == "m version 3:\n  cat.jpg: dog 91.0%; next cat 9.0%\n", "the model's names"


def test_without_metadata_input_name_says_where_a_text_goes(
    serving: Callable[..., Server], capsys: pytest.CaptureFixture
) -> None:
    server = serving(None, lambda instances: [[0.2, 0.8] for _ in instances])
    assert predict(server, "--text", "a great movie", "--version", "3") == 1
    assert capsys.readouterr().err == (
        f"dlpipe predict: error: cannot tell which input of m --text feeds: no metadata ({server.url}: HTTP 404: "
        '{"error": "unknown path /v1/models/m/versions/3/metadata"}) (pass --input-name NAME)\n'
    )
    texts = ["--text", "a great movie", "--text", "dull"]
    assert predict(server, *texts, "--input-name", "review", "--version", "3") == 0
    assert server.requests == [[{"review": "a great movie"}, {"review": "dull"}]]
    assert (
        capsys.readouterr().out
        == 'm version 3:\n  "a great movie": 1 80.0%; next 0 20.0%\n  "dull": 1 80.0%; next 0 20.0%\n'
    )


def test_a_csv_row_takes_each_input_type_from_the_metadata(
    serving: Callable[..., Server], capsys: pytest.CaptureFixture
) -> None:
    inputs = {"age": "DT_INT64", "hours": "DT_FLOAT", "workclass": "DT_STRING"}
    answer = {"probabilities": [0.7, 0.3], "classes": ["<=50K", ">50K"], "scores": [0.7, 0.3], "class_ids": [0, 1]}
    server = serving(inputs, lambda instances: [answer for _ in instances])
    assert predict(server, "--csv-row", 'age=39, workclass="State-gov, local", hours=') == 0
    [[row]] = server.requests
    assert row.pop("hours") != row.get("hours"), "a blank number is sent as NaN (the hole training filled)"
    assert row == {"age": 39, "workclass": "State-gov, local"}
    assert capsys.readouterr().out == "m version 3:\n  row 1: <=50K 70.0%; next >50K 30.0%\n"
    assert predict(server, "--csv-row", "age=39") == 0  # the columns left out are holes too
    assert server.requests[-1][0]["workclass"] == "" and server.requests[-1][0]["hours"] != 0
    capsys.readouterr()
    assert predict(server, "--csv-row", "age=,hours=1") == 2
    assert capsys.readouterr().err == (
        "dlpipe predict: error: --csv-row: age is missing, "
        "and its input takes whole numbers (DT_INT64), which have no hole\n"
    )
    assert predict(server, "--csv-row", "age=39,work_class=x") == 2
    assert capsys.readouterr().err == (
        "dlpipe predict: error: --csv-row: m has no input 'work_class' "
        "(its inputs: age (DT_INT64), hours (DT_FLOAT), workclass (DT_STRING))\n"
    )
    assert predict(server, "--csv-row", "age=old") == 2
    assert "--csv-row: age='old' is not what age takes (DT_INT64)" in capsys.readouterr().err


def test_a_csv_row_without_metadata_guesses_numbers(serving: Callable[..., Server]) -> None:
    server = serving(None, lambda instances: [[1.0] for _ in instances])
    assert predict(server, "--csv-row", "age=39,hours=40.5,workclass=State-gov", "--version", "3") == 0
    assert server.requests == [[{"age": 39, "hours": 40.5, "workclass": "State-gov"}]]


def test_an_image_for_a_model_without_a_string_input_is_refused(
    serving: Callable[..., Server], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "x.png").write_bytes(b"png")
    server = serving({"image": "DT_FLOAT"}, lambda instances: [])
    assert predict(server, "--image", str(tmp_path / "x.png")) == 2
    assert capsys.readouterr().err == (
        "dlpipe predict: error: m takes no string input, so --image fits no one input (its inputs: image (DT_FLOAT))\n"
    )
    assert predict(server, "--image", str(tmp_path / "missing.png"), "--input-name", "image") == 2
    assert "cannot read --image" in capsys.readouterr().err


def test_json_instances_and_the_raw_answer(serving: Callable[..., Server], capsys: pytest.CaptureFixture) -> None:
    server = serving({"image": "DT_FLOAT"}, lambda instances: [[0.1, 0.2, 0.7] for _ in instances])
    assert predict(server, "--instances", '[{"image": [[0, 1]]}]', "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"predictions": [[0.1, 0.2, 0.7]], "model_version": "3"}
    assert predict(server, "--instances", '{"instances": [{"x": 1}, {"x": 2}]}') == 0
    assert capsys.readouterr().out == "m version 3:\n  instance 1: 2 70.0%; next 1 20.0%, 0 10.0%\n" + (
        "  instance 2: 2 70.0%; next 1 20.0%, 0 10.0%\n"
    )


def test_wait_gives_up_with_the_reason(capsys: pytest.CaptureFixture) -> None:
    argv = ["predict", "--url", "http://127.0.0.1:9", "--model", "m", "--instances", "[1]", "--wait", "0.1"]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith(
        "dlpipe predict: error: m is not served at http://127.0.0.1:9 after 0.1s: m: TF Serving not answering ("
    )


@pytest.mark.parametrize(
    ("prediction", "shown"),
    [
        ([0.1, 0.6, 0.3], "1 60.0%; next 2 30.0%, 0 10.0%"),
        ({"probabilities": [0.2, 0.8], "classes": ["pos", "neg"], "scores": [0.8, 0.2]}, "pos 80.0%; next neg 20.0%"),
        ({"probabilities": [0.1, 0.2, 0.7], "classes": ["c"], "scores": [0.7], "class_ids": [2]}, "c 70.0%"),
        ({"probabilities": [0.2, 0.8], "classes": ["pos", "neg"]}, "1 80.0%; next 0 20.0%"),  # no scores: by index
        ([0.25], "0 25.0%"),
        (3.5, "3.5"),
        ({"value": [1, "a"]}, '{"value": [1, "a"]}'),
    ],
)
def test_answers_with_and_without_class_names(prediction: Any, shown: str) -> None:
    assert describe(prediction) == shown


def test_top_chooses_how_many_classes_are_shown() -> None:
    assert describe([0.1, 0.6, 0.3], top=1) == "1 60.0%"
    assert describe([0.1, 0.6, 0.3], top=2) == "1 60.0%; next 2 30.0%"
