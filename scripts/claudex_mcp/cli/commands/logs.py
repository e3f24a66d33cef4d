"""Show what a server wrote to stderr when a client started it through the launcher.

The log is ${XDG_STATE_HOME:-~/.local/state}/claudex/logs/<server>.log (rotated to .log.1 past
CLAUDEX_MCP_LOG_MAX_BYTES). -f follows it as it grows, until Ctrl-C. A shared server's log is
written by the gateway that runs it; --gateway shows the log of the gateway itself (one that a
shared server's `claudex mcp run` started in the background: logs/_gateway.log).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp logs qdrant",
    "claudex mcp logs codex -n 200",
    "claudex mcp logs codex -f",
    "claudex mcp logs --gateway",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server", nargs="?")
    p.add_argument("--gateway", action="store_true", help="the log of the gateway that runs the shared servers")
    p.add_argument("-n", "--lines", type=int, default=50, metavar="N", help="how many last lines (default 50)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what is appended")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    common.guard_terminal()  # a server's words never drive the terminal
    from claudex_mcp.runtime import checks, launcher
    from claudex_mcp import paths, safepath
    from claudex_mcp.errors import NotFound, UsageError, no_server
    from claudex_mcp.install.lifecycle import check_name, server_names

    if bool(args.server) == args.gateway:
        raise UsageError("name a server, or give --gateway", hint="claudex mcp logs qdrant, or claudex mcp logs --gateway")
    if args.lines < 0:
        raise UsageError(f"-n takes a number of lines, 0 or more, not {args.lines}",
                         hint=f"for example: claudex mcp logs {args.server or '--gateway'} -n 50")
    if args.gateway:
        from claudex_mcp.gateway import client

        path = client.log_file()
        args.server = path.stem
        if not path.exists():
            raise NotFound(f"the gateway has no log yet ({path})", path=str(path), code="no_log",
                           hint="a shared server's 'claudex mcp run' starts the gateway, which logs there; "
                                "'claudex mcp gateway serve' logs to its own stderr")
    else:
        check_name(args.server)
        path = launcher.log_file(args.server)
    registry = paths.registry_dir()
    known = server_names(registry)
    if not args.gateway and args.server not in known:
        if not path.exists():
            raise no_server(args.server, known, registry)
        # Uninstalled since it last ran: its log is still worth reading.
        common.warn(f"{args.server} is not in the registry at {registry}; this is the log it left")
    if not path.exists():
        raise NotFound(f"{args.server} has no log yet ({path})", path=str(path), code="no_log",
                       hint="a log appears when a client starts the server through 'claudex mcp run'")
    os.close(safepath.open_regular(path, os.O_RDONLY))  # a link or a FIFO in its place is refused, not followed
    lines = checks.log_tail(args.server, args.lines) if args.lines else []
    if args.json:
        common.write_json({"server": args.server, "file": str(path), "lines": lines})
        return 0
    for line in lines:
        print(line)
    if args.follow:
        sys.stdout.flush()
        try:
            with open(safepath.open_regular(path, os.O_RDONLY), "rb") as fh:
                fh.seek(0, 2)
                while True:
                    chunk = fh.readline()
                    if chunk:
                        sys.stdout.write(chunk.decode("utf-8", "replace"))
                        sys.stdout.flush()
                    else:
                        time.sleep(0.2)
        except KeyboardInterrupt:  # Ctrl-C is how following ends
            return 0
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp logs") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
