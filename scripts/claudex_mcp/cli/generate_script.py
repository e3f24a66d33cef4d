"""Write an MCP client's config (~/.mcp.json, ~/.codex/config.toml, ...) from the effective config.

Reads the effective config (JSON, from the merge step) on stdin or from --input, renders the
enabled servers for one client and merges them into that client's file: entries claudex did not
write are kept, claudex's entries that are no longer enabled are removed, the previous file is
kept as <file>.bak, and writing the same content again changes nothing. Stdio servers start
through claudex's launcher, so no secret is written; remote servers keep their ${VAR} references
in the client's own syntax, or are skipped with a warning when the client cannot express them or
a header holds a literal secret (VS Code gets a password prompt, an ${input:...}, instead). Only the servers object of a JSON file is rewritten: every other
value keeps its bytes. A read-only target or a dangling symlink is refused. An entry claudex
wrote that you removed since stays out of that file (said once). The project folders' parts
(Claude Code's local scope, Codex's folder file) are written by 'claudex mcp generate', which
knows the projects; this script leaves them as they are.

targets (--scope):
  claude-code     default ~/.mcp.json, project <project>/.mcp.json, user ~/.claude.json
  codex           $CODEX_HOME/config.toml (default ~/.codex), project <project>/.codex/config.toml
  claude-desktop  $XDG_CONFIG_HOME/Claude/claude_desktop_config.json (stdio servers only)
  cursor          project <project>/.cursor/mcp.json (default with a project), user ~/.cursor/mcp.json
  vscode          project <project>/.vscode/mcp.json
Exit 0 written (or already up to date), 1 bad input or target file, 2 usage (e.g. --scope project
without a project), 3 the target is locked by another claudex process.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp import jsonio
from claudex_mcp.cli import common

EXAMPLES = (
    "mcp-utils scan | merge-config --project demo | generate-mcp-json",
    "generate-mcp-json --client codex --input effective.json --json",
    "generate-mcp-json --client cursor --scope user < effective.json",
    "generate-mcp-json --client vscode --output - < effective.json   # print, write nothing",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_client_options(p)
    p.add_argument("--input", metavar="FILE", default=jsonio.STDIN,
                   help="the effective config (default: - for stdin)")
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import effective as effective_mod

    effective = jsonio.load(args.input)
    effective_mod.check(effective, jsonio.display_name(args.input))
    return common.emit_client_config(effective, args)


def main(argv: Sequence[str] | None = None, prog: str = "generate-mcp-json") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
