"""Write an MCP client's config (~/.mcp.json, ~/.codex/config.toml, ...) from the effective config.

Reads the effective config (JSON, from the merge step) on stdin or from --input, renders the
enabled servers for one client and merges them into that client's file: entries claudex did not
write are kept, claudex's entries that are no longer enabled are removed, the previous file is
kept as <file>.bak, and writing the same content again changes nothing. Stdio servers start
through claudex's launcher, so no secret is written; remote servers keep their ${VAR} references
in the client's own syntax, or are skipped with a warning when the client cannot express them or
a header holds a literal secret (VS Code gets a password prompt, an ${input:...}, instead). Only the servers object of a JSON file is rewritten: every other
value keeps its bytes. A read-only target or a dangling symlink is refused.

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
import sys
from collections.abc import Sequence

from .. import clients, jsonio
from . import common

EXAMPLES = (
    "mcp-utils scan | merge-config --project demo | generate-mcp-json",
    "generate-mcp-json --client codex --input effective.json --json",
    "generate-mcp-json --client cursor --scope user < effective.json",
    "generate-mcp-json --client vscode --output - < effective.json   # print, write nothing",
)


def add_options(p: argparse.ArgumentParser, default_targets: bool = False) -> None:
    """The options `claudex mcp generate` shares with this script; with ``default_targets`` no
    --client means generate.DEFAULT_TARGETS (the verb), else claude-code (this script)."""
    p.add_argument("--client", choices=clients.CLIENTS, default=None if default_targets else clients.CLAUDE_CODE,
                   help="the client whose config to write (default: " +
                        ("Claude Code's user scope and ~/.mcp.json, and Codex)" if default_targets else "claude-code)"))
    p.add_argument("--scope", choices=("default", "project", "user"), default="default",
                   help="which of the client's config files (default: the client's usual one)")
    p.add_argument("--output", metavar="PATH",
                   help="write this file instead; - prints the rendered document and writes nothing")
    common.add_json(p)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    add_options(p)
    p.add_argument("--input", metavar="FILE", default=jsonio.STDIN,
                   help="the effective config (default: - for stdin)")
    return p


def action(args: argparse.Namespace) -> int:
    from .. import effective as effective_mod

    effective = jsonio.load(args.input)
    effective_mod.check(effective, jsonio.display_name(args.input))
    return emit(effective, args)


def emit(effective: dict, args: argparse.Namespace) -> int:
    """Write (or with --output - print) the client config, and report what happened."""
    from .. import generate

    # The merge step's warnings (an ignored project layer, an invalid server) come first.
    upstream = [w for w in effective.get("warnings") or [] if isinstance(w, str)]
    if args.client is None and args.scope == "default" and args.output is None:
        results = generate.write_defaults(effective)
        for result in results:
            result["warnings"] = upstream + result["warnings"]
        if args.json:
            common.write_json({"targets": results})
        else:
            for result in results:
                _print_human(result)
        return 0
    args.client = args.client or clients.CLAUDE_CODE
    if args.output == "-":
        data, warnings = generate.render_document(effective, args.client)
        for warning in upstream + warnings:
            common.warn(warning)
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    result = generate.write(effective, args.client, args.scope, args.output)
    result["warnings"] = upstream + result["warnings"]
    if args.json:
        common.write_json(result)
    else:
        _print_human(result)
    return 0


def _print_human(result: dict) -> None:
    state = common.paint("wrote", "32") if result["changed"] else "unchanged"
    print(f"{state}  {result['target']} ({result['client']}, {result['scope']} scope)")
    for label, key in (("servers", "servers"), ("removed", "removed"), ("kept yours", "kept")):
        if result[key]:
            print(f"  {label}: {', '.join(result[key])}")
    if result["backup"]:
        print(f"  previous file: {result['backup']}")
    for warning in result["warnings"]:
        common.warn(warning)


def main(argv: Sequence[str] | None = None, prog: str = "generate-mcp-json") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
