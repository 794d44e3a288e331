"""The serving chart's helm test: replay a published version's warm-up request over gRPC and REST."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpipe.errors import DlpipeError
from dlpipe.export import read_lineage, read_warmup_inputs
from dlpipe.layout import ExportPaths, Layout
from dlpipe.serving import tensors
from dlpipe.serving.client import grpc_predict, probabilities, rest_predict


def warmup_instances(export: ExportPaths) -> list[dict[str, Any]]:
    """The warm-up request's examples as a client sends them in TF Serving's JSON row format."""
    return tensors.instances(read_warmup_inputs(export))


def check(layout: Layout, model: str, version: str, rest: str, grpc: str | None) -> list[str]:
    """One line per passed check; raises DlpipeError at the first failed one."""
    published = layout.model_versions(model)
    if not published:
        raise DlpipeError(f"no published version of {model} under {layout.model_dir(model)}")
    expected = published[-1] if version == "latest" else int(version)
    export = layout.model_version(model, expected)
    instances = warmup_instances(export)
    classes = len(read_lineage(export)["classes"])
    done = []
    answers = [("REST", rest_predict(rest, model, instances))]
    if grpc:
        answers.append(("gRPC", grpc_predict(grpc, model, instances)))
    for how, answer in answers:
        shape = np.asarray(probabilities(answer["predictions"])).shape
        if shape != (len(instances), classes):
            raise DlpipeError(f"{how}: predictions of shape {shape}, expected {(len(instances), classes)}")
        if int(answer["model_version"]) != expected:
            raise DlpipeError(f"{how}: answered by version {answer['model_version']}, expected {expected}")
        done.append(f"{how}: {model} version {expected} answered {shape[0]} x {shape[1]} probabilities")
    return done
