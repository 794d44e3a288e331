"""What serve-local serves: TF Serving's ``ModelServerConfig``, the text proto the serving chart renders.

::

    model_config_list {
      config {
        name: "digits"
        base_path: "/data/models/digits"
        model_platform: "tensorflow"
        model_version_policy { latest { num_versions: 2 } }   # or all {}, or specific { versions: 3 versions: 4 }
        version_labels { key: "stable" value: 3 }
      }
    }

It is parsed with TF Serving's own protos and checked as ``ServerCore`` checks
a config list (``model_servers/server_core.cc``: each name once, absolute base
paths, a platform it has). No policy means TF Serving's default, the newest
version only. The flags of ``serve-local --model-name`` build the same proto,
so a flag and a config file mean the same thing.

A ``base_path`` names the model's directory as the serving pod mounts the
volume (``<mount>/models/<name>``); serve-local serves that directory under
its own ``--root``, so the config the chart renders works unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from google.protobuf import text_format
from tensorflow_serving.config import file_system_storage_path_source_pb2, model_server_config_pb2

from dlpipe.errors import ConfigError
from dlpipe.layout import MODELS, Layout

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
VersionPolicy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy

PLATFORM = "tensorflow"  # the only platform a stock tensorflow_model_server has
POLICY_SYNTAX = "latest, latest:N, all or specific:V[,V...]"


def read_config(path: Path) -> ModelServerConfig:
    try:
        config = text_format.Parse(path.read_text(), ModelServerConfig())
    except OSError as exc:
        raise ConfigError(f"cannot read the model config {path}: {exc.strerror}") from None
    except text_format.ParseError as exc:
        raise ConfigError(f"{path} is not a ModelServerConfig text proto: {exc}") from None
    check(config)
    return config


def config_from_flags(model: str, policy: str | None, labels: Sequence[str]) -> ModelServerConfig:
    """``--model-name``, ``--model-version-policy`` and ``--version-label`` as the config they stand for."""
    config = ModelServerConfig()
    entry = config.model_config_list.config.add(name=model, base_path=f"/{MODELS}/{model}", model_platform=PLATFORM)
    if policy is not None:
        entry.model_version_policy.CopyFrom(parse_policy(policy))
    for item in labels:
        label, _, version = item.partition("=")
        if not label or not version.isdigit():
            raise ConfigError(f"--version-label {item!r} is not LABEL=VERSION (VERSION: a number)")
        entry.version_labels[label] = int(version)
    check(config)
    return config


def parse_policy(text: str) -> VersionPolicy:
    kind, _, arguments = text.partition(":")
    policy = VersionPolicy()
    try:
        if kind == "latest":
            policy.latest.num_versions = int(arguments or 1)
        elif kind == "all" and not arguments:
            policy.all.SetInParent()
        elif kind == "specific" and arguments:
            policy.specific.versions.extend(int(v) for v in arguments.split(","))
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"model version policy {text!r} is not one of {POLICY_SYNTAX}") from None
    return policy


def check(config: ModelServerConfig) -> None:
    """Refuse what TF Serving refuses at start-up, with its words."""
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError("the model config has no model_config_list (the only kind TF Serving reads from a file)")
    names: set[str] = set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise ConfigError(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
        if not model.base_path.startswith("/"):
            raise ConfigError(f"Expected model {model.name} to have an absolute path or URI; got "
                              f"base_path()={model.base_path}")  # fmt: skip
        if model.model_platform != PLATFORM:
            raise ConfigError(f"Model {model.name} requests unsupported platform {model.model_platform!r}",
                              f"TF Serving's image serves {PLATFORM!r}")  # fmt: skip


def model_dir(layout: Layout, model: ModelConfig) -> Path:
    """The model's directory on this machine: its base path's ``models/<name>`` under the volume root."""
    path = PurePosixPath(model.base_path)
    if path.parent.name != MODELS:
        raise ConfigError(
            f"base_path {model.base_path} of model {model.name} is not a model on the volume",
            f"serve-local serves <root>/{MODELS}/<name>; the chart renders <mount>/{MODELS}/<name>",
        )
    return layout.model_dir(path.name)
