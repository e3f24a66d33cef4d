"""Enable a server everywhere, or for one project (--project).

Globally, a server in disabled/ moves back to installed/ (core servers: the global config
layer); with --project, the project's layer says enabled: true, and the clients see it in the
project's folder (Claude Code's local scope; Codex's <dir>/.codex/config.toml where Codex trusts
the folder). An entry of the server that you removed in a client ('claude mcp remove', 'codex mcp
remove') is written back: everywhere, or in that project's folder.
"""

from __future__ import annotations

from collections.abc import Sequence

from claudex_mcp.cli import common, toggle


def build_parser(prog: str):
    return toggle.build_parser(prog, __doc__, "enable")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp enable") -> int:
    return common.run(prog, lambda: build_parser(prog), toggle.action(True), argv)
