"""The demo page (type a review, see the prediction), calling TF Serving's REST API.

It learns the model's inputs from the served version's warm-up request and its
class names from the lineage file, both on the shared volume: a model with one
text input gets a text box, any other model a box for JSON instances.
"""

from __future__ import annotations

import html
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dlpipe.errors import DlpipeError
from dlpipe.export import read_lineage
from dlpipe.layout import Layout
from dlpipe.serving.client import probabilities, rest_predict
from dlpipe.serving.smoke import warmup_instances

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:48em}} textarea{{width:100%;height:8em}}
td{{padding:2px 10px}} .bar{{background:#4a7;height:1em}}</style></head>
<body><h1>{title}</h1><p>{hint}</p>
<textarea id="input">{example}</textarea><p><button onclick="go()">Predict</button></p>
<table id="out"></table>
<script>
async function go() {{
  const out = document.getElementById("out");
  const response = await fetch("predict", {{method: "POST", body: document.getElementById("input").value}});
  const body = await response.json();
  if (!response.ok) {{ out.innerHTML = "<tr><td>" + body.error + "</td></tr>"; return; }}
  out.innerHTML = body.classes.map(c =>
    `<tr><td>${{c.name}}</td><td>${{c.probability.toFixed(3)}}</td>` +
    `<td><div class="bar" style="width:${{Math.round(300 * c.probability)}}px"></div></td></tr>`).join("");
}}
</script></body></html>
"""


class Demo:
    def __init__(self, layout: Layout, model: str, tf_serving: str) -> None:
        self.layout, self.model, self.tf_serving = layout, model, tf_serving

    def _newest(self) -> Any:
        versions = self.layout.model_versions(self.model)
        if not versions:
            raise DlpipeError(f"no published version of {self.model} yet")
        return self.layout.model_version(self.model, versions[-1])

    def text_input(self) -> str | None:
        """The input's name when the model takes exactly one text input."""
        example = warmup_instances(self._newest())[0]
        texts = [k for k, v in example.items() if isinstance(v, str)]
        return texts[0] if len(example) == 1 and texts else None

    def page(self) -> str:
        text = self.text_input()
        example = warmup_instances(self._newest())
        return PAGE.format(
            title=html.escape(f"{self.model}: try it"),
            hint="Type a text and press Predict." if text else "Paste instances as JSON (one per example).",
            example=html.escape(example[0][text] if text else json.dumps(example[:1])),
        )

    def predict(self, body: str) -> dict[str, Any]:
        text = self.text_input()
        if text:
            instances = [{text: body}]
        else:
            try:
                instances = json.loads(body)
            except json.JSONDecodeError as exc:
                raise DlpipeError(f"not JSON: {exc}") from None
        answer = rest_predict(self.tf_serving, self.model, instances)
        classes = read_lineage(self._newest())["classes"]
        ranked = sorted(zip(classes, probabilities(answer["predictions"])[0], strict=True), key=lambda c: -c[1])
        return {"model_version": answer["model_version"], "classes": [{"name": n, "probability": p} for n, p in ranked]}


def serve(demo: Demo, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            try:
                self._send(200, demo.page().encode(), "text/html; charset=utf-8")
            except DlpipeError as exc:
                self._send(503, html.escape(str(exc)).encode(), "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8", "replace")
            try:
                answer, code = demo.predict(body), 200
            except DlpipeError as exc:
                answer, code = {"error": str(exc)}, 400
            self._send(code, json.dumps(answer).encode(), "application/json")

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)
