"""One model as TF Serving manages it: the versions its policy asks for, loaded, retried, unloaded and reported.

Each poll (:meth:`Repository.refresh`) lists the model's numbered directories,
takes the versions its policy aspires to (:mod:`dlpipe.serving.source`) and
then acts as TF Serving's ``AvailabilityPreservingPolicy``
(``core/availability_preserving_policy.cc``), one step at a time:

- unload the lowest loaded version that is no longer aspired, unless no
  aspired version is available yet and it is the only one loaded: a model
  never goes dark while its next version loads, or fails to;
- otherwise load the highest aspired version not tried yet.

A load that fails (the SavedModel or its warm-up requests) is retried every
``interval`` seconds, ``max_retries`` times (TF Serving's
``--max_num_load_retries`` and ``--load_retry_interval_micros``, same
defaults), its state LOADING meanwhile; then it is END with the failure's code
and message, and is not tried again while it stays aspired. A failed or
retrying version never holds up the others. (TF Serving, with its default
``--num_load_threads=0``, loads in line, so a retrying version delays the next
ones until its retries run out; serve-local does not copy that delay.)

As TF Serving's ``ServableStateMonitor``, the repository remembers the last
state of every version it has seen: an unloaded version reports END with OK.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tensorflow_serving.apis import get_model_status_pb2

from dlpipe import log
from dlpipe.layout import Layout
from dlpipe.serving import inference, modelconfig, servable, source
from dlpipe.serving.modelconfig import ModelConfig
from dlpipe.serving.servable import Servable
from dlpipe.serving.status import Code, ServingError

logger = log.get("serving")
VersionStatus = get_model_status_pb2.ModelVersionStatus
State = VersionStatus.State


@dataclass(frozen=True)
class Retries:
    """How often a version that failed to load is tried again (TF Serving's defaults)."""

    max_retries: int = 5
    interval: float = 60.0


@dataclass
class _Attempts:
    count: int
    next_try: float


class Repository:
    """The versions of one model; ``model`` is a name (TF Serving's defaults: the newest version) or its config."""

    def __init__(self, layout: Layout, model: str | ModelConfig, retries: Retries = Retries()) -> None:
        if isinstance(model, str):
            self.config, self.base = ModelConfig(name=model), layout.model_dir(model)
        else:
            self.config, self.base = model, modelconfig.model_dir(layout, model)
        self.model = self.config.name
        self.labels = dict(self.config.version_labels)
        self.retries = retries
        self._servables: dict[int, Servable] = {}
        self._states: dict[int, tuple[int, ServingError | None]] = {}
        self._attempts: dict[int, _Attempts] = {}
        self._failed: set[int] = set()
        self._lock = threading.Lock()
        self._base_missing = False

    # -- requests ------------------------------------------------------------------------------------------------

    def servable(self, version: int | None) -> Servable | None:
        """An available version; None asks for the newest, as TF Serving's ``Latest`` does."""
        with self._lock:
            if version is None:
                return self._servables[max(self._servables)] if self._servables else None
            return self._servables.get(version)

    def versions(self) -> list[int]:
        """The available versions, oldest first."""
        with self._lock:
            return sorted(self._servables)

    def status(self) -> list[VersionStatus]:
        """Every version seen, newest first, with its state and, after a failure, its error."""
        with self._lock:
            states = sorted(self._states.items(), reverse=True)
        entries = []
        for version, (state, error) in states:
            entry = VersionStatus(version=version, state=state)
            entry.status.SetInParent()  # always there, OK unless the version ended in an error
            if error is not None and state == State.END:  # while it is retried, TF Serving says LOADING, no error
                entry.status.error_code = error.code
                entry.status.error_message = error.message
            entries.append(entry)
        return entries

    # -- polling -------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """One poll (from one thread at a time): read the directory and the policy, then load and unload."""
        try:
            on_disk = source.numbered_children(self.base)
        except OSError as exc:
            logger.warning("cannot list %s: %s", self.base, exc.strerror)
            return
        if on_disk is None:
            if not self._base_missing:
                logger.warning("no versions of %s yet: %s does not exist", self.model, self.base)
            self._base_missing = True
            return
        self._base_missing = False
        aspired = source.aspired(self.config.model_version_policy, on_disk)
        self._forget_unaspired(aspired)
        while (step := self._next_step(aspired)) is not None:
            unload, version = step
            if unload:
                self._unload(version)
            else:
                self._load(version, on_disk[version])

    def _forget_unaspired(self, aspired: set[int]) -> None:
        """A version no longer aspired is not retried; its last error stays on record."""
        for version in [v for v in self._attempts if v not in aspired]:
            del self._attempts[version]
            self._set(version, State.END, self._states[version][1])
        self._failed &= aspired

    def _next_step(self, aspired: set[int]) -> tuple[bool, int] | None:
        with self._lock:
            loaded = set(self._servables)
        unaspired = sorted(loaded - aspired)
        if unaspired and (not aspired or loaded & aspired or len(unaspired) > 1):
            return True, unaspired[0]
        now = time.monotonic()
        waiting = {v for v, attempts in self._attempts.items() if attempts.next_try > now}
        due = aspired - loaded - self._failed - waiting
        return (False, max(due)) if due else None

    def _load(self, version: int, path: Path) -> None:
        self._set(version, State.LOADING, None)
        try:
            loaded = servable.load(path, version)
            inference.warm_up(loaded, path)
        except Exception as exc:  # whatever breaks one version is recorded, never allowed to stop the others
            error = exc if isinstance(exc, ServingError) else ServingError(Code.UNKNOWN, f"{type(exc).__name__}: {exc}")
            self._failed_attempt(version, error)
            return
        with self._lock:
            self._servables[version] = loaded
        self._attempts.pop(version, None)
        self._set(version, State.AVAILABLE, None)
        logger.info("%s version %d is available", self.model, version)

    def _failed_attempt(self, version: int, error: ServingError) -> None:
        attempts = self._attempts.setdefault(version, _Attempts(0, 0.0))
        attempts.count += 1
        if attempts.count > self.retries.max_retries:
            del self._attempts[version]
            self._failed.add(version)
            self._set(version, State.END, error)
            logger.error("%s version %d did not load: %s: %s", self.model, version, error.code.name, error.message)
            return
        attempts.next_try = time.monotonic() + self.retries.interval
        self._set(version, State.LOADING, error)
        logger.warning("%s version %d did not load (%s: %s); retry %d of %d in %gs", self.model, version,
                       error.code.name, error.message, attempts.count, self.retries.max_retries,
                       self.retries.interval)  # fmt: skip

    def _unload(self, version: int) -> None:
        with self._lock:
            del self._servables[version]
        self._set(version, State.END, None)
        logger.info("%s version %d was unloaded", self.model, version)

    def _set(self, version: int, state: int, error: ServingError | None) -> None:
        with self._lock:
            self._states[version] = (state, error)
