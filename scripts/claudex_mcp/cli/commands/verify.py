"""Check that installed servers are what was installed: each one's content digest against its install record.

Every install (and upgrade, add, and the core servers' sync) records the digest of everything in
the server's folder, its environment too (.venv, node_modules), in its install record, with
where it came from (for a catalog server: the catalog, its name and version, the package and the
artefact's digest the registry gave). verify recomputes the digest of each server (or of those
named) and compares: ok, changed (a file was added, removed or modified since), missing, or
unrecorded (installed before claudex kept digests: reinstall or upgrade it to record one). Exit
1 when any changed or is missing ('claudex mcp status' says so too); byte code (__pycache__) is
left out, so a server that ran still verifies.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp verify",
    "claudex mcp verify time --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("servers", nargs="*", metavar="NAME", help="the servers to check (default: every one)")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.catalog import provenance
    from claudex_mcp import paths
    from claudex_mcp.errors import ClaudexError, no_registry, no_server

    registry = paths.registry_dir()
    if not registry.is_dir():
        raise no_registry(registry)
    known = paths.server_folders(registry)
    for name in args.servers:
        if name not in known:
            raise no_server(name, sorted(known), registry)
    results = provenance.verify(registry, list(dict.fromkeys(args.servers)) or None)
    if args.json:
        common.write_json(results)
    else:
        colours = {"ok": "32", "changed": "31", "missing": "31", "unrecorded": "33"}
        for r in results:
            source = r["source"] or {}
            origin = (f"{source.get('name')} {source.get('version')}" if source.get("type") == "catalog"
                      else source.get("url") or source.get("path") or source.get("type") or "")
            print(f"{common.paint(r['state'].ljust(10), colours[r['state']])}  {r['name']}"
                  + (f"  ({origin})" if origin else ""))
    bad = [r["name"] for r in results if provenance.failing(r)]
    if bad:
        common.report_error(ClaudexError(
            f"{len(bad)} server{'s' * (len(bad) > 1)} changed since {'they were' if len(bad) > 1 else 'it was'} "
            f"installed: {', '.join(bad)}", code="verify_failed",
            hint="see what changed in the folder; 'claudex mcp upgrade --force NAME' or a reinstall puts the "
                 "installed version back"), "claudex mcp verify")
        return 1
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp verify") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
