"""Call one tool of a server through a real MCP session and print its result.

The server starts as its clients start it (the launcher, 'claudex mcp run': the config layers,
the required variables, ${VAR} expansion, its log) or is reached at its URL; the session is
initialize, tools/list, tools/call, shutdown, and the server and everything it started end with
the call. stdout gets the result's text content (on a terminal with its control characters
written out, as \x1b: a server's escapes never drive the terminal); --json the whole result
(content, structuredContent, isError), exact. Exit 0 when the tool succeeds, 1 when it answers with an error
(its text in the error message), 4 for a server or tool that does not exist, 5 when the server
cannot be started or does not answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp call qdrant qdrant_list_collections",
    "claudex mcp call qdrant qdrant_create_collection --args '{\"name\": \"notes\"}'",
    "echo '{\"limit\": 3}' | claudex mcp call codex codex_history --args - --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server")
    p.add_argument("tool")
    p.add_argument("--args", metavar="JSON", dest="arguments",
                   help="the tool's arguments as a JSON object; - reads it from stdin (default: {})")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="seconds for the whole call: start, handshake and the tool's work (default: 60)")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod
    from claudex_mcp import jsonio
    from claudex_mcp.runtime import toolcall
    from claudex_mcp.errors import ClaudexError, UsageError

    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout:g}",
                         hint="e.g. --timeout 30")
    if args.arguments is None:
        arguments: dict = {}
    elif args.arguments == "-":
        arguments = toolcall.parse_arguments(jsonio.read_bytes("-"), "<stdin>")
    else:
        arguments = toolcall.parse_arguments(args.arguments.encode("utf-8"), "--args")
    # When the server is killed after a timeout, asyncio's child watcher thread may warn that
    # "the loop that handles pid N is closed": true and harmless (the group is ended below), but
    # it would be a second thing on stderr. A handler of its own keeps it off.
    import logging

    logging.getLogger("asyncio").addHandler(logging.NullHandler())
    registry, found = common.registry_index()
    entry = index_mod.require_valid(index_mod.server_entry(found, args.server))
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    result = toolcall.call(entry, layers, dict(os.environ), args.tool, arguments, args.timeout)
    if result["isError"]:
        text = toolcall.text_of(result).strip() or "the tool reported an error without a message"
        raise ClaudexError(f"{args.server}.{args.tool}: {text}", code="tool_error",
                           hint=f"check the arguments against the tool's input schema ('claudex mcp info {args.server}')")
    if args.json:
        common.write_json(result)
    else:
        text = toolcall.text_of(result)
        if sys.stdout.isatty():   # a server's escapes must not drive the terminal; a pipe gets the exact text
            text = common.visible(text)
        sys.stdout.write(text + ("" if text.endswith("\n") or not text else "\n"))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp call") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
