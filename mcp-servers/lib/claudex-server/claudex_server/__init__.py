"""The one shape of every shipped MCP server's server.py, in one place:

- `check_first(__name__, check)` at the top of server.py: `python server.py --check` (the
  manifest's healthCheck.command) prints the domain module's self-check and exits there, before
  server.py imports the SDK;
- `tools(server, DomainError)`: the server's `@tool(...)` decorator; a domain error a tool raises
  becomes a tool error that starts with the error's code;
- `serve(server, argv, check, ...)`: the whole `main()`: stdio behind the scrubbing pumps
  (claudex_server.scrub, .guard), `--check`, usage, Ctrl-C, start and stop.

And what the servers' plain modules share: the domain errors (claudex_server.errors) and the atomic
write (claudex_server.files). Standard library only, never `mcp`: `claudex mcp status` runs the
self-check beside every session and the SDK's import was most of its cost (0.6 s of CPU; 0.1 s
without)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import Conflict, InvalidInput, NotFound, ServerError, Unavailable
from .scrub import MASK, Scrubber

__all__ = ["MASK", "Conflict", "InvalidInput", "NotFound", "Scrubber", "ServerError", "Unavailable",
           "check_first", "error_text", "self_check", "serve", "tools"]

USAGE = "usage: server.py [--check]\n"
CHECK = ["--check"]

# The domain errors each server declared with tools() (a WeakKeyDictionary, made by the first
# call): serve() says one of them ending the start in one line (a setting the server cannot run
# without) instead of a traceback. inspect, functools and weakref are imported only when a server
# registers its tools: `--check` does without them.
_DECLARED: Any = None


def self_check(check: Callable[[], dict], scrubber: Scrubber | None = None) -> int:
    """Print ``check()``'s report as JSON on stdout ({"ok", "problems", "hint"?}, sorted keys),
    scrubbed (by default of the values of the secret variables); return the exit code: 0 when the
    report says ok, else 1."""
    report = check()
    shown = (scrubber or Scrubber.from_env()).data(report)
    sys.stdout.write(json.dumps(shown, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if report.get("ok") is True else 1


def check_first(name: str, check: Callable[[], dict]) -> None:
    """At the top of server.py, before the SDK's import: when the file runs as the program
    (``name`` is ``"__main__"``) with the one argument ``--check``, print ``check()``'s report
    (see self_check) and exit with its code; else return at once. The self-check thus never pays
    for the SDK's import, and a server never parses ``--check`` itself."""
    if name == "__main__" and sys.argv[1:] == CHECK:
        sys.exit(self_check(check))


def error_text(exc: BaseException) -> str:
    """What a client reads of a domain error: ``<code>: <message>`` (the message alone when the
    error has no code)."""
    code = getattr(exc, "code", None)
    return f"{code}: {exc}" if isinstance(code, str) and code else str(exc)


def tools(server: Any, *errors: type[BaseException]) -> Callable[..., Callable]:
    """``server.tool`` for a server whose domain raises ``errors`` (ServerError, or classes of its
    own with a ``code``): each tool registered through it turns one of them into a tool error
    (``isError``) reading ``error_text(exc)``, so the client keeps the code; anything else stays
    a crash, whose text the SDK keeps from the client. Call it once per server:

        tool = claudex_server.tools(server, ServerError)

        @tool(annotations=READ)
        def qdrant_status() -> dict: ...

    serve() also reads ``errors``: one of them raised by ``start()`` ends the server with one
    line on stderr (``<name>: <message>``) and exit 1."""
    global _DECLARED
    if not errors:
        raise TypeError("tools() needs the server's domain error class(es)")
    if _DECLARED is None:
        import weakref

        _DECLARED = weakref.WeakKeyDictionary()
    _DECLARED[server] = errors   # a server object that takes no weak reference is refused here, at start-up

    def tool(*args: Any, **kwargs: Any) -> Callable:
        register = server.tool(*args, **kwargs)

        def decorator(fn: Callable) -> Callable:
            register(_mapped(fn, errors))
            return fn

        return decorator

    return tool


def _declared(server: Any) -> tuple[type[BaseException], ...]:
    try:
        return () if _DECLARED is None else _DECLARED.get(server, ())
    except TypeError:   # not weakly referable: tools() was never called with it
        return ()


def _mapped(fn: Callable, errors: tuple[type[BaseException], ...]) -> Callable:
    """``fn`` with ``errors`` raised as the SDK's ToolError. functools.wraps keeps what the SDK
    reads to build the schemas: the signature and the annotations, resolved in ``fn``'s module."""
    import functools
    import inspect

    def failure(exc: BaseException) -> Exception:
        from mcp.server.mcpserver.exceptions import ToolError   # loaded already: the server runs

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
          start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None,
          scrubber: Scrubber | None = None) -> int:
    """A shipped server's ``main()``: ``--check`` is the self-check; no argument runs ``server``
    (an MCPServer) on stdio, ``start()`` first and ``stop()`` on every way out; Ctrl-C on a
    terminal returns 130 (a person ended it, nothing failed); anything else is a usage error
    (2). ``argv`` None means the command line's. One of the domain errors declared with tools()
    raised by ``start()`` (a setting the server cannot run without) is one line on stderr,
    ``<name>: <message>``, and exit 1.

    Everything the server writes on stdout and stderr passes ``scrubber`` (default:
    ``Scrubber.from_env()``, the values of the secret variables); a failure is written as its
    traceback, scrubbed too, and returns 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    scrubber = scrubber or Scrubber.from_env()
    if args == CHECK:
        return self_check(check, scrubber)
    if args:
        sys.stderr.write(USAGE)
        return 2
    import signal

    from .guard import Guard

    # Ctrl-C is 130 however the SDK's event loop takes the KeyboardInterrupt (it may end the
    # session quietly and return): the handler notes it before raising as Python's own does.
    interrupted: list[int] = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_interrupt)
    guard = Guard(scrubber)
    try:
        if start is not None:
            start()
        server.run("stdio")
        if interrupted:
            return 130
    except KeyboardInterrupt:
        return 130
    except _declared(server) as exc:
        sys.stderr.write(f"{getattr(server, 'name', 'server')}: {exc}\n")
        return 1
    except Exception:
        import traceback

        traceback.print_exc()   # through the pump: the traceback of a provider error holds its text
        return 1
    finally:
        try:
            if stop is not None:
                stop()
        finally:
            guard.close()
    return 0
