"""Check a run's export as TF Serving would use it: load it, replay its warm-up request."""

from __future__ import annotations

from pathlib import Path

from dlpipe.errors import DlpipeError
from dlpipe.layout import SAVED_MODEL
from dlpipe.train.export import SIGNATURE, WARMUP_FILE, read_warmup_inputs


def verify_export(export: Path) -> str:
    import tensorflow as tf

    if not (export / SAVED_MODEL).is_file():
        raise DlpipeError(f"{export} holds no SavedModel (no {SAVED_MODEL})")
    loaded = tf.saved_model.load(str(export))
    if SIGNATURE not in loaded.signatures:
        raise DlpipeError(f"{export}: no {SIGNATURE} signature (has {', '.join(loaded.signatures) or 'none'})")
    signature = loaded.signatures[SIGNATURE]
    warmup = export / "assets.extra" / WARMUP_FILE
    if not warmup.is_file():
        raise DlpipeError(f"{export}: no warm-up requests ({warmup.relative_to(export)})")
    inputs = read_warmup_inputs(export)
    try:
        outputs = signature(**{name: tf.constant(value) for name, value in inputs.items()})
    except (TypeError, ValueError, tf.errors.OpError) as exc:
        raise DlpipeError(f"{export}: the warm-up request fails: {exc}") from None
    probabilities = outputs.get("probabilities")
    if probabilities is None:
        raise DlpipeError(f"{export}: {SIGNATURE} returns {sorted(outputs)}, not probabilities")
    rows, classes = probabilities.shape
    return f"{SIGNATURE}({', '.join(sorted(inputs))}) -> probabilities[{rows}, {classes}]"
