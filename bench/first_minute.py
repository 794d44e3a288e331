"""The first minute: a fresh clone -> ``scripts/run.sh`` -> the first prediction answered,
wall clock, for one or more revisions of a repository, in alternating rounds.

Each round clones every revision into a new temporary folder (no ``.venv``: that is
the point), runs ``scripts/run.sh --port P`` there and polls serve-local's REST
predict until it answers. Before the rounds, one unmeasured run per revision warms
the installers' caches (pip's ``~/.cache/pip``, uv's ``~/.cache/uv``) as a returning
user has them. Also reported: the set-up, until ``dlpipe run`` creates ``./.dlpipe``.

    .venv/bin/python bench/first_minute.py [--repo .] [--revs BEFORE,HEAD] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REQUEST = json.dumps({"instances": [{"image": [[0.0] * 8] * 8}]}).encode()  # one digits example


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answered(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/v1/models/digits:predict"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=REQUEST), timeout=5) as response:
            return "predictions" in json.loads(response.read())
    except OSError:
        return False


def first_prediction(repo: str, rev: str, timeout: float) -> tuple[float, float]:
    """Seconds from the clone to the first answered prediction, and to ``./.dlpipe`` appearing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLPIPE_", "VIRTUAL_ENV"))}
    with tempfile.TemporaryDirectory(prefix="dlpipe-first-minute-") as tmp:
        clone, port = Path(tmp) / "dlpipe", free_port()
        began = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", repo, str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", rev], check=True)
        with open(Path(tmp) / "run.log", "wb") as log:
            proc = subprocess.Popen([str(clone / "scripts/run.sh"), "--port", str(port)], cwd=clone, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            set_up = None
            try:
                while not answered(port):
                    if set_up is None and (clone / ".dlpipe").exists():
                        set_up = time.perf_counter() - began
                    if proc.poll() is not None or time.perf_counter() - began > timeout:
                        raise RuntimeError(
                            f"{rev}: no prediction; run.sh's output:\n{(Path(tmp) / 'run.log').read_text()}"
                        )
                    time.sleep(0.25)
                total = time.perf_counter() - began
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
    return total, set_up or total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--revs", default="HEAD", help="comma-separated revisions, measured in alternation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    revs = args.revs.split(",")
    for rev in revs:
        first_prediction(args.repo, rev, args.timeout)  # warms pip's / uv's cache
    results: dict[str, list[tuple[float, float]]] = {rev: [] for rev in revs}
    for _ in range(args.rounds):
        for rev in revs:
            results[rev].append(first_prediction(args.repo, rev, args.timeout))
    for rev, runs in results.items():
        totals, set_ups = (", ".join(f"{seconds:.1f}" for seconds in column) for column in zip(*runs, strict=True))
        print(
            f"{rev}: first prediction {statistics.median(t for t, _ in runs):.1f} s (runs {totals}), "
            f"of which set-up {statistics.median(s for _, s in runs):.1f} s (runs {set_ups})"
        )


if __name__ == "__main__":
    main()
