"""Enable a server everywhere, or for one project (--project).

Globally, a server in disabled/ moves back to installed/ (core servers: the global config
layer); with --project, the project's layer says enabled: true.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import common, toggle


def build_parser(prog: str):
    return toggle.build_parser(prog, __doc__, "enable")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp enable") -> int:
    return common.run(prog, lambda: build_parser(prog), toggle.action(True), argv)
