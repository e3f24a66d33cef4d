"""Show or clear claudex's cache: `cache stats`, `cache clear`, `cache refresh`.

Without an action, `cache` is `cache stats`: it shows the cache's state and changes nothing.

refresh also brings registry.json in line with the server folders (under the registry lock);
every other reader only reads.

The cache folder (${XDG_CACHE_HOME:-~/.cache}/claudex, mode 700, files 600) holds the registry
index (mcp-registry.json, while the registry is unchanged and CLAUDEX_MCP_CACHE_TTL seconds,
default 300, have not passed) and its hit counters (mcp-registry.stats), the last status results
(mcp-status.json, under a keyed digest whose key is mcp-status.key), the config files found
valid (validated.json) and the content digest checks of status (verify.json). None holds a
secret value. clear removes them all (uv/, uv's package cache, is left to `uv cache clean`). A
corrupt cache file is rebuilt; a cache folder that is a symbolic link or another user's is not
used (stats says so in "problem").
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp cache",
    "claudex mcp cache stats --json",
    "claudex mcp cache clear",
    "claudex mcp cache refresh --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("action", nargs="?", choices=("stats", "clear", "refresh"), default="stats",
                   help="stats (the default): hit rate and state; clear: remove every cache file; "
                        "refresh: rescan now")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.store import cache, mutation
    from claudex_mcp import cachedir, paths

    if args.action == "stats":
        result = cache.stats()
        line = (f"{result['hits']} hits, {result['misses']} misses"
                + (f", hit rate {result['hitRate']:.1%}" if result["hitRate"] is not None else "")
                + f"; {'cached' if result['cached'] else 'empty'} ({result['file']}, ttl {result['ttl']:g} s)"
                + (f"; {result['problem']}" if result.get("problem") else ""))
    elif args.action == "clear":
        result = cachedir.clear()
        line = f"cleared ({len(result['removed'])} files removed)"
    else:
        result = mutation.reconcile(paths.registry_dir())
        line = (f"rescanned {result['registry']}: {result['servers']} servers"
                + ("; registry.json rewritten from the folders" if result["reconciled"] else ""))
    if args.json:
        common.write_json(result)
    else:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp cache") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
