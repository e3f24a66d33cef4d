"""Search the MCP Registry's servers by name, title and description, from a local copy.

Ranks every server of the configured catalogs (BM25 over the name, title and description; a
name hit counts most) from the local copy that 'claudex mcp catalog sync' keeps. The copy is
synced first when it is missing or older than catalog.maxAge (default one day;
CLAUDEX_MCP_CATALOG_MAX_AGE); when the catalog cannot be reached the copy answers, and stderr
says so once. --offline never asks the catalog. Each result names what 'claudex mcp install
registry:NAME' installs: its packages (npm, pypi, oci, mcpb) and whether it has a remote.
Catalogs: CLAUDEX_MCP_CATALOG_URL, else catalog.url of the user or global layer, else
https://registry.modelcontextprotocol.io (docs/catalog.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp search weather",
    "claudex mcp search 'time zone' --limit 5",
    "claudex mcp search github --json --jq '.[].name'",
    "claudex mcp search postgres --offline",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("term", nargs="+", help="the words to look for")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N results (default 20; 0: all)")
    p.add_argument("--offline", action="store_true", help="answer from the local copy only, even when it is stale")
    common.add_json(p)
    return p


def _row(score: float, server: dict, entry: dict, url: str) -> dict:
    packages = [p.get("registryType") for p in server.get("packages") or [] if isinstance(p, dict)]
    return {"name": server["name"], "title": server.get("title"), "description": server.get("description"),
            "version": server.get("version"), "versions": len(entry["versions"]), "catalog": url,
            "packages": packages, "remote": bool(server.get("remotes")), "score": score,
            "install": f"claudex mcp install registry:{server['name']}"}


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.catalog import feeds, index, ranking
    from claudex_mcp import paths
    from claudex_mcp.errors import UsageError

    if args.limit < 0:
        raise UsageError("--limit must be 0 or more", hint="--limit 10")
    registry = paths.registry_dir()
    servers, owner = [], {}
    for url in feeds.urls(registry):
        if args.offline:
            copy = index.load(url)
            if copy is None:
                common.note(f"no local copy of {url}: run 'claudex mcp catalog sync'")
                continue
        else:
            copy, why = index.ensure(url, feeds.max_age(registry), report=common.progress(not args.json))
            if why:
                common.note(f"claudex mcp search: {why}")
        for name, entry in copy["servers"].items():
            if name in owner:
                continue  # the first catalog that has a name owns it, as for install
            server = entry["versions"][entry["latest"]]["server"]
            owner[name] = (entry, url)
            servers.append(server)
    found = ranking.rank(servers, " ".join(args.term), args.limit or None)
    rows = [_row(score, s, *owner[s["name"]]) for score, s in found]
    if args.json:
        common.write_json(rows)
        return 0
    if not rows:
        print(f"no server matches {' '.join(args.term)!r}")
        return 0
    common.print_table(rows, [("NAME", "name"), ("VERSION", "version"),
                              ("INSTALLS", lambda r: ",".join(r["packages"] + (["remote"] if r["remote"] else [])) or "-"),
                              ("DESCRIPTION", "description")])
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp search") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
