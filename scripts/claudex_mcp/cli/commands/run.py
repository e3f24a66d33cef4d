"""Start a server as a client would (the launcher that generated client configs point at).

Resolves the effective config for the project, checks the required variables, expands
${VAR}, changes to the server's folder, appends its stderr to
${XDG_STATE_HOME:-~/.local/state}/claudex/logs/<server>.log (kept under
CLAUDEX_MCP_LOG_MAX_BYTES while it runs, the older part in <server>.log.1), records pid and
start time, and then execs the server: stdin and stdout pass straight through, no process in
between. Typed on a terminal, it says that it waits for an MCP client on stdin, and Ctrl-C ends
the server as a client would (SIGTERM), leaving no traceback in its log.

A shared server (its manifest's server.shared, or a layer's `shared`: qdrant) is not started
here: run connects to the claudex gateway (starting it when none runs) and bridges stdin and
stdout to the one process of that server that every agent shares (a project whose trusted layer
changes the server's env or args has a process of its own, shared by that project's agents);
each request carries this agent's folder (--project-dir, else $CLAUDE_PROJECT_DIR, else the
current folder). --direct starts the server's own process instead. See docs/gateway.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp run qdrant",
    "claudex mcp run codex --project-dir ~/claudex/demo",
    "claudex mcp run qdrant --direct   # its own process, not the gateway's",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server")
    common.add_project(p)
    p.add_argument("--direct", action="store_true",
                   help="start a shared server's own process instead of connecting to the gateway")
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod
    from claudex_mcp.runtime import launcher

    registry, index = common.registry_index()
    entry = index_mod.server_entry(index, args.server)
    where = project.resolve(args.project, args.project_dir)
    launch = launcher.prepare(entry, config.Layers(registry, where), dict(os.environ))
    if launch.shared and not args.direct:
        from claudex_mcp.gateway import client

        if sys.stdin.isatty():
            sys.stderr.write(f"{args.server} is shared: this connects to the claudex gateway's one process of it and "
                             f"waits for an MCP client on stdin (JSON-RPC messages, one per line); Ctrl-D or Ctrl-C "
                             f"ends this session, not the server ('claudex mcp gateway status' shows it).\n")
        return client.bridge(args.server, session_folder(args, where), str(where.dir) if where else None)
    on_terminal = sys.stdin.isatty()
    if on_terminal:  # a person typed it: say what it waits for, before stderr becomes the log
        sys.stderr.write(
            f"{args.server} is running and waits for an MCP client on stdin (JSON-RPC messages, one per line); "
            f"its stderr goes to {launch.log}.\n"
            f"Clients start it this way (see 'claudex mcp generate'); to try it by hand, run "
            f"'claudex mcp test {args.server}' or 'claudex mcp logs {args.server} -f'. Ctrl-C ends it.\n")
    log_fd = launcher.log_pipe(launch)
    launcher.record_start(launch, where)  # while stderr is still ours: a refused state folder is said here
    os.chdir(launch.cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_fd, 2)
    os.close(log_fd)
    if on_terminal:
        return launcher.run_on_terminal(launch, where)  # records the server's own pid
    try:
        os.execve(launch.argv[0], launch.argv, launch.env)
    except OSError as exc:  # stderr is the log now: say it there, and exit as a failed start
        os.write(2, f"claudex mcp run {args.server}: cannot start {launch.argv[0]}: {exc.strerror}\n".encode())
        return 5
    return 0  # not reached


def session_folder(args: argparse.Namespace, where) -> str:
    """The folder this agent works in, which a shared server is told with each request."""
    if where is not None and (args.project or args.project_dir):
        return str(where.dir)
    told = os.environ.get("CLAUDE_PROJECT_DIR", "")
    return told if os.path.isabs(told) and os.path.isdir(told) else os.getcwd()


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp run") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv, human_errors=True)
