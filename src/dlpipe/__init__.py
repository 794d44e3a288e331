"""dlpipe: a deep-learning pipeline for Kubernetes on one shared volume."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dlpipe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
