"""Upgrade installed servers: git sources to the newest semver tag (or the head of the recorded
branch), folder sources re-copied.

The old version stays in place until the new one has installed, validated and passed an MCP
handshake; then the two are exchanged in one atomic step. --check only reports what would
change. A downgrade needs --force.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import common

EXAMPLES = (
    "claudex mcp upgrade qdrant",
    "claudex mcp upgrade --all --check",
    "claudex mcp upgrade qdrant --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server", nargs="?", help="the server to upgrade")
    p.add_argument("--all", action="store_true", help="every installed server")
    p.add_argument("--check", action="store_true", help="only report what would change")
    p.add_argument("--force", action="store_true", help="allow a downgrade")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from ... import cache, lifecycle, paths
    from ...errors import NotFound, UsageError

    if bool(args.server) == bool(args.all):
        raise UsageError("name one server, or give --all", hint="claudex mcp upgrade NAME | --all")
    registry = paths.registry_dir()
    if args.all:
        index, _ = cache.load(registry)
        names = sorted(e["name"] for k, e in index["servers"].items() if "/" not in k and e["location"] != "core")
    else:
        names = [args.server]
    results = []
    for name in names:
        try:
            results.append(lifecycle.upgrade(registry, name, check=args.check, force=args.force,
                                             report=common.progress(not args.json)))
        except NotFound:  # with --all: uninstalled by another command since the list was read
            if not args.all:
                raise

    if args.json:
        common.write_json(results if args.all else results[0])
        return 0
    for r in results:
        if r.get("upgraded"):
            common.print_result(r, f"upgraded {r['name']} {r['from']} -> {r['to']} ({r['reason']})")
        elif r.get("available"):
            print(f"{r['name']} {r['from']}: an upgrade is available ({r['reason']})")
        else:
            print(f"{r['name']} {r['from']}: up to date ({r['reason']})")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp upgrade") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
