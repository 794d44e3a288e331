"""The command layer: one module per command group, flags and printing only.

Each module has ``register(subparsers)`` and handlers ``(args, config) -> exit
code`` that call a stage's entry point. TensorFlow-heavy stages are imported
inside the handlers that run them, so ``dlpipe --help`` and the storage image
need no TensorFlow; a command that needs it sets ``tensorflow=True`` and the
CLI imports it first, quietly (:func:`dlpipe.log.import_tensorflow`).
"""

MODULES = (
    "version",
    "config",
    "volume",
    "dataset",
    "ingest",
    "train",
    "evaluate",
    "serving",
    "predict",
    "run",
)
