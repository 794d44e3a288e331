"""Logging set-up: readable text on a terminal, one JSON object per line in a pod; TensorFlow kept quiet."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
from datetime import datetime, timezone

LOGGER_NAME = "dlpipe"
# What TensorFlow's C++ runtime prints while it loads and looks for devices, none of which a user can act on:
# absl's warning that it logs to stderr before it is set up, informational and warning lines (oneDNN, CPU
# features, "Could not find cuda drivers"), the CPU-features line's continuation, and the errors of looking for
# a GPU on a machine that has none.
_TF_NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|^[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "  # absl's clock reads 00:00:<epoch seconds> before set-up
    r"|^To enable the following instructions: .* rebuild TensorFlow"
    r"|^E\d{4} .*(failed call to cuInit|Unable to register cu\w+ factory|computation placer already registered)"
)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


def on_terminal() -> bool:
    return sys.stderr.isatty()


def setup(log_format: str = "auto", verbose: bool = False) -> logging.Logger:
    """Configure the ``dlpipe`` logger once for a command; return it."""
    if log_format == "auto":
        log_format = "text" if on_terminal() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    return logger


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


def import_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and find its devices without its start-up noise reaching the user (all of it with -v).

    The noise is written by TensorFlow's C++ runtime straight to the
    process's stderr (file descriptor 2), so Python's logging cannot filter it,
    and ``TF_CPP_MIN_LOG_LEVEL`` (set here for what comes later) does not cover
    the lines printed before absl's logging is initialised, nor the cuInit
    error of the device search. So fd 2 points at a temporary file while
    TensorFlow loads and lists its devices; then the lines that are not known
    noise are written back, and all of them if the import failed.
    """
    if "tensorflow" in sys.modules:
        return
    if verbose:
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if failed or not _TF_NOISE.search(line)))
            sys.stderr.flush()
