"""One family of errors for every mistake a user can make.

Each error says what was wrong, where, and what to do next; the CLI turns a ``KitError`` into
its message and an exit code, never a traceback.
"""

from __future__ import annotations


class KitError(Exception):
    """Base class: a problem the user can fix. ``hint`` says how."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self):  # pickle cleanly across worker processes
        return (_rebuild, (type(self), self.message, self.hint))

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


def _rebuild(cls: type[KitError], message: str, hint: str) -> KitError:
    return cls(message, hint=hint)


class DataError(KitError):
    """Fashion-MNIST is missing, incomplete or corrupt."""

    exit_code = 3


class NotebookError(KitError):
    """A notebook cannot be read or is not what was expected."""

    exit_code = 4


class ConfigError(KitError):
    """A configuration or version file has a wrong key or value."""

    exit_code = 5


class PublishError(KitError):
    """A release cannot be published (the gate refused it, or generation failed)."""

    exit_code = 6


class GradingError(KitError):
    """Grading could not run at all (not: a submission that failed)."""

    exit_code = 7
