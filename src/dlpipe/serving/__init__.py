"""Serving: clients for TensorFlow Serving, a local stand-in for it, and the readiness sidecar."""
