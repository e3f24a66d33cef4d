"""merge-config: read a registry index (mcp-utils scan) on stdin, print the effective config of
every server for the project: the layers merged, plus how a client starts or reaches each.

usage: merge-config [--project NAME | --project-dir DIR] [--input FILE|-]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = ("mcp-utils scan | merge-config --project demo",
            "merge-config --input index.json | generate-mcp-json --client codex --output -")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_project(p)
    p.add_argument("--input", default="-", metavar="FILE", help="the index to read (default: stdin)")
    return p


def check_index(index) -> dict:
    from claudex_mcp.errors import InvalidInput

    if not (isinstance(index, dict) and isinstance(index.get("servers"), dict) and isinstance(index.get("registry"), str)):
        raise InvalidInput("the input is not a registry index", path="/",
                           hint="pipe the output of 'mcp-utils scan' into merge-config", code="not_an_index")
    return index


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import effective, project
    from claudex_mcp import jsonio

    index = check_index(jsonio.load(args.input))
    doc = effective.build(index, project.resolve(args.project, args.project_dir), Path(index["registry"]))
    common.write_json(doc)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "merge-config") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
