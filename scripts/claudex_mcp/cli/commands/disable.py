"""Disable a server everywhere, or for one project (--project).

Globally, an installed server moves to disabled/ with its config kept (core servers: the
global config layer says enabled: false); with --project, only that project's layer, and the
clients leave it off in the project's folder (Claude Code's local scope lists it in
disabledMcpServers; Codex's <dir>/.codex/config.toml says enabled = false where Codex trusts the
folder). A running instance started by 'claudex mcp run' is stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

from collections.abc import Sequence

from claudex_mcp.cli import common, toggle


def build_parser(prog: str):
    return toggle.build_parser(prog, __doc__, "disable")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp disable") -> int:
    return common.run(prog, lambda: build_parser(prog), toggle.action(False), argv)
