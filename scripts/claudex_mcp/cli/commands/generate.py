"""Write the MCP client configs for the servers enabled in the project (Claude Code and Codex by default).

The same as `mcp-utils scan | merge-config | generate-mcp-json` in one process. Stdio servers
start through 'claudex mcp run', so no secret is ever written; entries claudex did not write are
kept, the previous file is kept as <file>.bak, and an unchanged config is not rewritten.
Without --client it writes ~/.claude.json (Claude Code's user scope: seen from any folder),
~/.mcp.json (a compatibility copy) and $CODEX_HOME/config.toml; --json then prints
{"targets": [one result per file]}. Clients: claude-code (default ~/.mcp.json, --scope project
<project>/.mcp.json, --scope user ~/.claude.json), codex ($CODEX_HOME/config.toml),
claude-desktop, cursor, vscode.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import common, generate_script

EXAMPLES = (
    "claudex mcp generate",
    "claudex mcp generate --client claude-code --scope user",
    "claudex mcp generate --client codex --json",
    "claudex mcp generate --project demo --client vscode --scope project",
    "claudex mcp generate --output -",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    generate_script.add_options(p, default_targets=True)
    common.add_project(p)
    common.add_refresh(p)
    return p


def action(args: argparse.Namespace) -> int:
    from ... import effective, project

    registry, index = common.registry_index(args.refresh)
    doc = effective.build(index, project.resolve(args.project, args.project_dir), registry)
    return generate_script.emit(doc, args)


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp generate") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
