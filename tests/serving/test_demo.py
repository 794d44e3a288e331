"""The demo page over a served text model (type a review, see the prediction)."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

from dlpipe.evaluate.publish import publish
from dlpipe.layout import Layout
from dlpipe.serving.demo import Demo, serve
from dlpipe.serving.local import LocalServer
from dlpipe.serving.repository import Repository
from tests.tooling.sample_data import make_imdb, run_cli


def test_type_a_review_see_the_prediction(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    assert (
        run_cli("ingest", "--root", str(root), "--source", str(make_imdb(tmp_path / "src")), "--dataset", "imdb") == 0
    )
    args = ["train", "--root", str(root), "--dataset", "imdb", "--model", "text-bigru", "--max-steps", "2"]
    assert run_cli(*args, "--batch-size", "4", "--run-id", "reviews") == 0
    layout = Layout(root)
    publish(layout, "imdb", layout.run_paths("reviews").export)
    tf_serving = LocalServer(Repository(layout, "imdb"), 0).start()
    page = serve(Demo(layout, "imdb", f"http://127.0.0.1:{tf_serving.port}"), 0, host="127.0.0.1")
    threading.Thread(target=page.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{page.server_port}/"
    try:
        with urllib.request.urlopen(base) as response:
            html = response.read().decode()
        assert "<textarea" in html and "Type a text" in html and "http" not in html.split("<script>")[0].lower()
        request = urllib.request.Request(base + "predict", data=b"a wonderful, moving film", method="POST")
        with urllib.request.urlopen(request) as response:
            answer = json.loads(response.read())
        assert {c["name"] for c in answer["classes"]} == {"neg", "pos"}
        assert abs(sum(c["probability"] for c in answer["classes"]) - 1) < 1e-4
        assert answer["model_version"] == "1"
    finally:
        page.shutdown()
        tf_serving.stop()
