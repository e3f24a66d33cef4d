"""Create the registry: registry.json, core/, installed/ and disabled/, with the core servers.

The registry is $CLAUDEX_MCP_REGISTRY, else /opt/mcp-servers when it exists and is writable,
else $XDG_DATA_HOME/claudex/mcp-servers. The core servers that ship with claudex
(mcp-servers/core/, or CLAUDEX_MCP_CORE_SOURCE; empty for none) are put in core/ with their
dependencies, or updated when they changed. Running it again changes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.install import lifecycle
from claudex_mcp import paths
from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp init",
    "CLAUDEX_MCP_REGISTRY=/tmp/registry claudex mcp init --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    where = paths.registry_dir()
    result = lifecycle.init(where, report=common.progress(not args.json))
    created, core = result["created"], result["core"]
    if args.json:
        common.write_json(result)
    elif created or core:
        print(f"initialised the registry at {where} ({len(created)} created"
              + (f"; core servers: {', '.join(core)}" if core else "") + ")")
    else:
        print(f"the registry at {where} is ready; nothing to do")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp init") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
