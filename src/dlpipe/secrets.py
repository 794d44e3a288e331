"""Secret values that cannot leak into logs, dumps or reprs by accident."""

from __future__ import annotations

from typing import Any

REDACTED = "***"


class Secret:
    """A string that prints as ``***``; call :meth:`reveal` where it is really used."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(value: Any) -> Any:
    """A copy of a configuration tree with every :class:`Secret` replaced by ``***``."""
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
