"""mcp-utils: print the registry index (through the cache) as JSON, the first stage of the
scan | merge | generate pipeline.

usage: mcp-utils scan [--refresh]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = ("mcp-utils scan | merge-config | generate-mcp-json --output -",
            "mcp-utils scan --refresh | jq '.servers | keys'")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("action", choices=("scan",), help="scan: print the index of the registry")
    common.add_refresh(p)
    return p


def action(args: argparse.Namespace) -> int:
    _, index = common.registry_index(args.refresh)
    common.write_json(index)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "mcp-utils") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
