"""The domain error of a server: raised by its plain module (which never imports mcp), turned into
a tool error by `claudex_server.tools`, the code first: `not_found: collection 'x' does not exist`.

A server raises these or its own class with a `code` (claudex_llm.LLMError, say); either way the
code names the kind of failure an agent can act on and the message says what to do."""

from __future__ import annotations


class ServerError(Exception):
    """A failure the caller can act on: ``code`` names its kind, ``hint`` says how to fix it,
    ``path`` what it is about (a file, a folder)."""

    code = "error"

    def __init__(self, message: str, hint: str | None = None, path: str | None = None, *,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message + (f" (hint: {self.hint})" if self.hint else "")


class InvalidInput(ServerError):
    """The arguments or a setting are wrong: nothing was done."""

    code = "invalid_input"


class NotFound(ServerError):
    """What the call names does not exist."""

    code = "not_found"


class Conflict(ServerError):
    """The state does not allow it now (already there with other settings, in use elsewhere)."""

    code = "conflict"


class Unavailable(ServerError):
    """Something the server needs (a service, a model, a program) cannot be used."""

    code = "unavailable"
