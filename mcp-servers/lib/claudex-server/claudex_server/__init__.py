"""What every shipped MCP server's server.py does the same way: the self-check that the
manifest's healthCheck.command runs (`server.py --check`) and the stdio `main()`.

Standard library only, never `mcp`: a server answers `--check` with it before it imports the
SDK, because `claudex mcp status` runs the self-check beside every session and that import
was most of its cost (0.6 s of CPU; 0.1 s without)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["self_check", "serve"]

USAGE = "usage: server.py [--check]\n"


def self_check(check: Callable[[], dict]) -> int:
    """Print ``check()``'s report as JSON on stdout ({"ok", "problems", "hint"?}, sorted keys);
    return the exit code: 0 when the report says ok, else 1."""
    report = check()
    sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if report.get("ok") is True else 1


def serve(server: Any, argv: Sequence[str] | None, check: Callable[[], dict], *,
          start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None) -> int:
    """A shipped server's ``main()``: ``--check`` is the self-check; no argument runs ``server``
    (an MCPServer) on stdio, ``start()`` first and ``stop()`` on every way out; Ctrl-C on a
    terminal returns 130 (a person ended it, nothing failed); anything else is a usage error
    (2). ``argv`` None means the command line's."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
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
