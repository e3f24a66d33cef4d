"""Validate manifests, server folders, a registry folder, registry files and config files.

Reports every problem at once: its JSON pointer, the rule it breaks and a hint. A server folder
is checked as a whole: a valid manifest, the files that command/args name exist inside it, no
symlink leaves it, nothing in it is world-writable. A registry folder (registry.json or
core/, installed/, disabled/ in it) is checked whole: every server folder, registry.json and the
global config layer config.json. Exit 0 valid, 1 invalid, 2 usage, 4 a path does not exist.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp import jsonio
from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp validate ./my-server",
    "claudex mcp validate \"$CLAUDEX_MCP_REGISTRY\"",
    "claudex mcp validate --schema config ~/.config/claudex/mcp.json",
    "cat manifest.json | claudex mcp validate -",
    "claudex mcp validate --json registry.json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a manifest, a server folder, a registry folder, a registry or config file, or - for stdin")
    p.add_argument("--schema", choices=("manifest", "registry", "config", "effective"),
                   help="the kind of document (default: told from the file name and content)")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.schemas import validation

    # Everything is checked before anything is printed: a missing path fails the whole run.
    results = [(source,) + validation.validate_source(source, args.schema) for source in args.paths]
    problems = [p for _, _, found in results for p in found]
    if args.json:
        common.write_json(problems)
    else:
        _print_human(results)
    return 1 if problems else 0


def _print_human(results) -> None:
    for source, kind, problems in results:
        name = jsonio.display_name(source)
        if not problems:
            print(f"{common.paint('ok', '32')}  {name}: valid {kind}")
            continue
        print(f"{common.paint('invalid', '31')}  {name}: {len(problems)} problem{'s' * (len(problems) != 1)}")
        for p in problems:
            where = p["file"] + (f" {p['pointer']}" if p["pointer"] else "")
            print(f"  {where}: {p['message']} [{p['rule']}]")
            if p.get("hint"):
                print(f"      hint: {p['hint']}")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp validate") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
