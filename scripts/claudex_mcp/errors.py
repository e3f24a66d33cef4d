"""The one domain error type, and the exit code that each kind of failure maps to."""

from __future__ import annotations

# Exit codes, documented in docs/conventions.md. One table for every script and verb.
OK = 0
INVALID = 1       # the input or the state is wrong
USAGE = 2         # the command line is wrong
CONFLICT = 3      # a conflict, or the registry lock is held
NOT_FOUND = 4     # a named thing does not exist
EXTERNAL = 5      # an external tool or service failed
UNEXPECTED = 70   # a bug: never a user's fault
INTERRUPTED = 130


class ClaudexError(Exception):
    """A failure the user can act on: what went wrong, where, and how to fix it."""

    exit_code = INVALID
    code = "invalid"

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.path is not None:
            error["path"] = self.path
        if self.hint is not None:
            error["hint"] = self.hint
        return {"error": error}


class InvalidInput(ClaudexError):
    exit_code = INVALID
    code = "invalid"


class UsageError(ClaudexError):
    exit_code = USAGE
    code = "usage"


class Conflict(ClaudexError):
    exit_code = CONFLICT
    code = "conflict"


class NotFound(ClaudexError):
    exit_code = NOT_FOUND
    code = "not_found"


class ExternalFailure(ClaudexError):
    exit_code = EXTERNAL
    code = "external"


def no_registry(registry) -> NotFound:
    """The one "there is no registry" error."""
    return NotFound(f"there is no registry at {registry}", path=str(registry),
                    hint="run 'claudex mcp init', or set CLAUDEX_MCP_REGISTRY", code="no_registry")


def invalid_server(what, folder, problem: str, hint: str | None = None) -> InvalidInput:
    """The one "not a valid server" error: ``what`` (a name or a folder) and its first problem."""
    return InvalidInput(f"{what} is not a valid server: {problem}", path=str(folder), code="invalid_server",
                        hint=hint or f"run 'claudex mcp validate {folder}'")
