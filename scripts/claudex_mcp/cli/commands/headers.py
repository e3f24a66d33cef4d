"""Print the HTTP headers a remote server gets from the config layers: the clients' headers helper.

A generated client file never holds a header whose value is kept in your user layer: a secret
that 'claudex mcp add' moved there (-H 'Authorization: Bearer sk-...'), or a header set with
'claudex mcp config set NAME headers.X VALUE --user'. For such a server, 'generate' writes a
headersHelper (Claude Code) or http_headers_helper (Codex) that runs this verb when the client
connects; the client sends the other headers from its own file. stdout is one JSON object,
{"Header": "value"}, with ${VAR} expanded from the environment and the server's env in the
layers; on a terminal the values are masked unless --reveal. Exit 2 for a stdio server, 1 for
a disabled one or a missing required variable, 4 for no such server; errors are one readable
line, which the clients show.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp headers notes-api",
    "claudex mcp headers notes-api --project-dir . --reveal",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server", help="a remote (http or sse) server of the registry")
    p.add_argument("--reveal", action="store_true", help="print the values on a terminal too (masked there by default)")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod
    from claudex_mcp.runtime import launcher
    from claudex_mcp import secrets

    registry, found = common.registry_index()
    entry = index_mod.require_valid(index_mod.server_entry(found, args.server))
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    _, headers = launcher.remote(entry, layers, dict(os.environ), only_layer_headers=True)
    if sys.stdout.isatty() and not args.reveal:
        import re

        scheme = re.compile(r"^(Bearer|Basic|Token)\s+", re.I)  # the scheme is no secret
        headers = {k: (m.group(0) if (m := scheme.match(v)) else "") + secrets.MASK for k, v in headers.items()}
        sys.stderr.write("values masked on a terminal; --reveal shows them\n")
    common.write_json(headers)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp headers") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv, human_errors=True)
