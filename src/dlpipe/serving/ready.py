"""The readiness sidecar of the dlpipe-serving chart.

TF Serving's REST status call answers 200 even while a model is still
loading, so a probe on it would route traffic to a pod that cannot answer.
This sidecar answers ``GET /ready`` with 200 only when TF Serving reports the
wanted versions (numbers, or ``latest``: any) of every model AVAILABLE: with
``versionPolicy.specific`` every listed version, since labels and requests may
name any of them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def unavailable(tf_serving: str, wanted: dict[str, str], timeout: float = 2.0) -> list[str]:
    """What is not ready yet, one phrase each; empty when everything is.

    ``wanted`` maps a model to ``latest`` or its versions, comma-separated (``3,4``).
    """
    missing = []
    for model, versions in wanted.items():
        for version in versions.split(","):
            missing += _unavailable(f"{tf_serving.rstrip('/')}/v1/models/{model}", model, version, timeout)
    return missing


def _unavailable(model_url: str, model: str, version: str, timeout: float) -> list[str]:
    url = model_url + ("" if version == "latest" else f"/versions/{version}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            states = json.loads(response.read()).get("model_version_status", [])
    except urllib.error.HTTPError as exc:
        if exc.code != 404:  # 404: TF Serving does not know the version (yet)
            return [f"{model}: TF Serving answered HTTP {exc.code}"]
        states = []
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return [f"{model}: TF Serving not answering ({getattr(exc, 'reason', exc)})"]
    if not [s for s in states if s.get("state") == "AVAILABLE"]:
        return [f"{model}: version {version} not AVAILABLE yet"]
    return []


def serve(port: int, tf_serving: str, wanted: dict[str, str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            problems = unavailable(tf_serving, wanted) if self.path == "/ready" else ["unknown path; use /ready"]
            body = json.dumps({"ready": not problems, "waiting_for": problems}).encode()
            self.send_response(200 if not problems else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("0.0.0.0", port), Handler)
