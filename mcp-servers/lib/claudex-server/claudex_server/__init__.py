"""What every shipped MCP server's server.py does the same way: the self-check that the
manifest's healthCheck.command runs (`server.py --check`), the stdio `main()`, and the scrubbing
of everything the server writes (claudex_server.scrub).

Standard library only, never `mcp`: a server answers `--check` with it before it imports the
SDK, because `claudex mcp status` runs the self-check beside every session and that import
was most of its cost (0.6 s of CPU; 0.1 s without)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .scrub import MASK, Scrubber

__all__ = ["MASK", "Scrubber", "self_check", "serve"]

USAGE = "usage: server.py [--check]\n"


def self_check(check: Callable[[], dict], scrubber: Scrubber | None = None) -> int:
    """Print ``check()``'s report as JSON on stdout ({"ok", "problems", "hint"?}, sorted keys),
    scrubbed (by default of the values of the secret variables); return the exit code: 0 when the
    report says ok, else 1."""
    report = check()
    shown = (scrubber or Scrubber.from_env()).data(report)
    sys.stdout.write(json.dumps(shown, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if report.get("ok") is True else 1


def serve(server: Any, argv: Sequence[str] | None, check: Callable[[], dict], *,
          start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None,
          scrubber: Scrubber | None = None) -> int:
    """A shipped server's ``main()``: ``--check`` is the self-check; no argument runs ``server``
    (an MCPServer) on stdio, ``start()`` first and ``stop()`` on every way out; Ctrl-C on a
    terminal returns 130 (a person ended it, nothing failed); anything else is a usage error
    (2). ``argv`` None means the command line's.

    Everything the server writes on stdout and stderr passes ``scrubber`` (default:
    ``Scrubber.from_env()``, the values of the secret variables); a failure is written as its
    traceback, scrubbed too, and returns 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    scrubber = scrubber or Scrubber.from_env()
    if args == ["--check"]:
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
