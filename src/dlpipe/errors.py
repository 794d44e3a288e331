"""Errors a user can act on, and the exit code each one maps to.

Exit codes (documented in README.md):
  0  success
  1  runtime failure (data, network, storage)
  2  usage or configuration error
  3  evaluated, not blessed (dlpipe evaluate: a normal outcome a CI can branch on)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_BLESSED = 3


class DlpipeError(Exception):
    """A failure reported to the user as one line, without a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(DlpipeError):
    """A bad flag, environment variable or configuration file value."""

    exit_code = EXIT_USAGE
