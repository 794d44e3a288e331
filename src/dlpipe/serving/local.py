"""``dlpipe serve-local``: TF Serving's REST and gRPC APIs over the models directory, without a cluster.

What a client learns here holds against the TensorFlow Serving the serving
chart runs: the same endpoints, status codes and bodies (:mod:`.rest`,
:mod:`.rpc`), the same version policy and labels, read from the same
``ModelServerConfig`` (:mod:`.modelconfig`), and the same handling of versions
that fail to load (:mod:`.repository`). The models directory is polled every
``poll`` seconds, as TF Serving's ``--file_system_poll_wait_seconds`` does.

Two differences, both so that serve-local can start before anything is
published (``dlpipe run`` does): TF Serving opens its ports only once every
model's first version has loaded, and exits when that fails; serve-local loads
what there is, then answers at once (404 for a model with no version yet), and
a version that fails stays on its status, END with the error.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from dlpipe import log
from dlpipe.errors import ConfigError
from dlpipe.layout import Layout
from dlpipe.serving import modelconfig, rest, rpc
from dlpipe.serving.core import ServingCore
from dlpipe.serving.repository import Repository, Retries

logger = log.get("serve-local")


class LocalServer:
    """REST (and optionally gRPC) over a core whose versions are polled in the background."""

    def __init__(
        self,
        core: ServingCore | Repository,
        port: int,
        grpc_port: int | None = None,
        poll: float = 2.0,
        grpc_max_message_bytes: int = rpc.MAX_MESSAGE_BYTES,
    ) -> None:
        self.core = core if isinstance(core, ServingCore) else ServingCore([core])
        self.poll = poll
        self.core.refresh()
        self.http = rest.http_server(self.core, port)
        self.port = self.http.server_port
        self.grpc, self.grpc_port = (
            rpc.grpc_server(self.core, grpc_port, grpc_max_message_bytes) if grpc_port is not None else (None, None)
        )
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.http.serve_forever, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]

    @property
    def repository(self) -> Repository:
        """The (first) model's versions."""
        return next(iter(self.core.repositories.values()))

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.core.refresh()
            except Exception:  # the poll must outlive anything one model's directory does to it
                logger.exception("polling the models failed; trying again in %gs", self.poll)

    def start(self) -> LocalServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        if self.grpc is not None:
            self.grpc.stop(0)


def serve(
    layout: Layout,
    *,
    model_name: str | None,
    model_config_file: Path | None,
    version_policy: str | None,
    version_labels: Sequence[str],
    allow_labels_for_unavailable_models: bool,
    port: int,
    grpc_port: int | None,
    poll: float,
    max_load_retries: int | None,
    load_retry_interval: float | None,
    grpc_max_message_bytes: int | None,
) -> LocalServer:
    """serve-local's flags -> a started server; None means TF Serving's default."""
    if model_config_file is not None:
        if version_policy is not None or version_labels:
            raise ConfigError("with a model config file, the version policy and labels come from the file")
        config = modelconfig.read_config(model_config_file)
    else:
        config = modelconfig.config_from_flags(model_name or "", version_policy, version_labels)
    defaults = Retries()
    retries = Retries(
        defaults.max_retries if max_load_retries is None else max_load_retries,
        defaults.interval if load_retry_interval is None else load_retry_interval,
    )
    core = ServingCore.from_config(layout, config, retries, allow_labels_for_unavailable_models)
    server = LocalServer(core, port, grpc_port, poll, grpc_max_message_bytes or rpc.MAX_MESSAGE_BYTES).start()
    grpc = f", gRPC on 127.0.0.1:{server.grpc_port}" if server.grpc_port else ""
    logger.info("REST on http://127.0.0.1:%d%s", server.port, grpc)
    for name, repository in core.repositories.items():
        logger.info("serving %s from %s (available: %s)", name, repository.base, repository.versions() or "none yet")
    return server
