"""The shape of a claudex MCP server, in the few lines this server needs: the same functions as
claudex's own servers use (claudex_server, in claudex's mcp-servers/lib/claudex-server), copied
here so that the server runs wherever it is, without claudex. Standard library only: the self-check
must not pay for the SDK's import.

- ``check_first(__name__, check)`` at the top of server.py: `python server.py --check` prints
  ``check()``'s report as JSON and exits (0 when it says ok), before the SDK is imported;
- ``tools(server, DomainError)``: the server's ``@tool(...)``; a DomainError a tool raises is the
  tool's error (``isError``), ``<code>: <message>`` when the error has a ``code``;
- ``serve(server, argv, check)``: the whole ``main()``: ``--check``, stdio, a usage error (2) for
  anything else, Ctrl-C (130).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

USAGE = "usage: server.py [--check]\n"
CHECK = ["--check"]


def self_check(check: Callable[[], dict]) -> int:
    """Print ``check()``'s report ({"ok", "problems", "hint"?}) as JSON; 0 when it says ok, else 1."""
    report = check()
    sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if report.get("ok") is True else 1


def check_first(name: str, check: Callable[[], dict]) -> None:
    """When server.py runs as the program (``name`` is "__main__") with the one argument
    ``--check``: the self-check, then exit with its code; else return at once."""
    if name == "__main__" and sys.argv[1:] == CHECK:
        sys.exit(self_check(check))


def error_text(exc: BaseException) -> str:
    """What the client reads of a domain error: ``<code>: <message>``, or the message alone."""
    code = getattr(exc, "code", None)
    return f"{code}: {exc}" if isinstance(code, str) and code else str(exc)


def tools(server: Any, *errors: type[BaseException]) -> Callable[..., Callable]:
    """``server.tool`` for a server whose domain raises ``errors``: each tool registered through it
    turns one of them into the tool's error; anything else stays a crash (the SDK keeps its text
    from the client)."""
    if not errors:
        raise TypeError("tools() needs the server's domain error class(es)")

    def tool(*args: Any, **kwargs: Any) -> Callable:
        register = server.tool(*args, **kwargs)

        def decorator(fn: Callable) -> Callable:
            register(_mapped(fn, errors))
            return fn

        return decorator

    return tool


def _mapped(fn: Callable, errors: tuple[type[BaseException], ...]) -> Callable:
    # functools.wraps keeps what the SDK reads to build the schemas: the signature, the annotations.
    # Imported here, when the tools are registered: `--check` does without them.
    import functools
    import inspect

    def failure(exc: BaseException) -> Exception:
        from mcp.server.mcpserver.exceptions import ToolError

        return ToolError(error_text(exc))

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except errors as exc:
                raise failure(exc) from None
        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors as exc:
            raise failure(exc) from None
    return run


def serve(server: Any, argv: Sequence[str] | None, check: Callable[[], dict], *,
          start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None) -> int:
    """The server's ``main()``: ``--check`` is the self-check; no argument runs ``server`` on stdio
    (``start()`` first, ``stop()`` on every way out); Ctrl-C returns 130; anything else is a usage
    error (2). ``argv`` None means the command line's."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == CHECK:
        return self_check(check)
    if args:
        sys.stderr.write(USAGE)
        return 2
    try:
        if start is not None:
            start()
        server.run("stdio")
    except KeyboardInterrupt:
        return 130
    finally:
        if stop is not None:
            stop()
    return 0
