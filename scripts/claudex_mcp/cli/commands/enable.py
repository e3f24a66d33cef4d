"""Enable a server everywhere, or for one project (--project).

Globally, a server in disabled/ moves back to installed/ (core servers: the global config
layer); with --project, the project's layer says enabled: true.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import common

EXAMPLES = (
    "claudex mcp enable qdrant",
    "claudex mcp enable qdrant --project demo --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from ... import lifecycle, paths, project

    where = project.resolve(args.project, args.project_dir) if (args.project or args.project_dir) else None
    result = lifecycle.set_enabled(paths.registry_dir(), args.server, True, project=where,
                                   report=common.progress(not args.json))
    if args.json:
        common.write_json(result)
    else:
        scope = f"for project {result['project']['name']}" if result["project"] else "everywhere"
        state = "enabled" if result["changed"] else "already enabled"
        common.print_result(result, f"{result['name']} {state} {scope}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp enable") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
