"""Remove an installed server from the registry (core servers cannot be: disable them).

Atomic: the folder leaves the registry with one rename. The server's user config is kept
unless --purge; a running instance started by 'claudex mcp run' is stopped.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp uninstall qdrant",
    "claudex mcp uninstall qdrant --purge --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server")
    p.add_argument("--purge", action="store_true", help="also remove the server's entry from your user config")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.install import lifecycle
    from claudex_mcp import paths

    result = lifecycle.uninstall(paths.registry_dir(), args.server, purge=args.purge,
                                 report=common.progress(not args.json))
    if args.json:
        common.write_json(result)
    else:
        common.print_result(result, f"uninstalled {result['name']}" + (" and removed its user config" if result["purged"] else ""))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp uninstall") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
