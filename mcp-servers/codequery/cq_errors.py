"""The one error family of the codequery core; server.py turns each into a tool error."""

from __future__ import annotations


class CodequeryError(Exception):
    """A failure the caller can act on; `code` names its kind, `hint` says how to fix it."""

    code = "error"

    def __init__(self, message: str, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path

    def __str__(self) -> str:
        return self.message + (f" (hint: {self.hint})" if self.hint else "")


class InvalidInput(CodequeryError):
    code = "invalid_input"


class NotFound(CodequeryError):
    code = "not_found"


class Conflict(CodequeryError):
    code = "conflict"


class Unavailable(CodequeryError):
    code = "unavailable"
