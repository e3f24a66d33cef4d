"""What `enable` and `disable` share: the same options, one action with the wanted state."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from claudex_mcp.cli import common


def build_parser(prog: str, doc: str | None, verb: str) -> argparse.ArgumentParser:
    p = common.parser(prog, doc, (f"claudex mcp {verb} qdrant", f"claudex mcp {verb} qdrant --project demo --json"))
    p.add_argument("server")
    common.add_project(p)
    common.add_json(p)
    return p


def action(enabled: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from claudex_mcp.install import lifecycle
        from claudex_mcp import paths
        from claudex_mcp.settings import project

        where = project.resolve(args.project, args.project_dir) if (args.project or args.project_dir) else None
        result = lifecycle.set_enabled(paths.registry_dir(), args.server, enabled, project=where,
                                       report=common.progress(not args.json))
        if args.json:
            common.write_json(result)
        else:
            scope = f"for project {result['project']['name']}" if result["project"] else "everywhere"
            state = ("" if result["changed"] else "already ") + ("enabled" if enabled else "disabled")
            common.print_result(result, f"{result['name']} {state} {scope}")
        return 0
    return run
