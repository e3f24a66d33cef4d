"""`claudex mcp <verb>`: finds the verb's module and hands it the rest of the command line.

It knows no verbs: each module in cli/commands/ is one, summarised by its docstring's first
line, which is read as text so that help never imports the verbs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from .. import __version__

COMMANDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands")
PROG = "claudex"

TOP_HELP = f"""usage: claudex [--version] [--help] <command> [<args>...]

Claudex: Claude Code, Codex and other agents in one container.

commands:
  mcp    discover, install, configure, check and build MCP servers

Run 'claudex mcp --help' for the MCP verbs.
"""


def verbs() -> dict[str, str]:
    """Every verb with its one-line summary, in alphabetical order."""
    found = {}
    for entry in sorted(os.listdir(COMMANDS_DIR)):
        if entry.endswith(".py") and not entry.startswith("_"):
            found[entry[:-3].replace("_", "-")] = _summary(os.path.join(COMMANDS_DIR, entry))
    return found


def _summary(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        head = fh.read(400)
    first = head.lstrip().removeprefix('"""').splitlines()[0] if head.strip() else ""
    return first.strip().rstrip(".")


def mcp_help() -> str:
    listed = verbs()
    width = max(len(v) for v in listed) if listed else 0
    lines = "\n".join(f"  {name.ljust(width)}  {summary}" for name, summary in listed.items())
    return f"""usage: claudex mcp <verb> [--help] [<args>...]

Manage the MCP servers that Claude Code, Codex and the other agents start.

verbs:
{lines}

Run 'claudex mcp <verb> --help' for a verb's options and examples.
Exit codes: 0 ok, 1 invalid input or state, 2 usage, 3 conflict or lock held,
4 not found, 5 external tool failed, 130 interrupted (docs/conventions.md).
"""


def _usage_error(message: str, hint: str, prog: str) -> int:
    # Imported here: the common path (help, a known verb) does not need argparse or JSON output.
    from ..errors import UsageError
    from .common import report_error

    exc = UsageError(message, hint=hint)
    report_error(exc, prog)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        (sys.stdout if args else sys.stderr).write(TOP_HELP)
        return 0 if args else 2
    if args[0] in ("-V", "--version", "version"):
        sys.stdout.write(f"claudex {__version__}\n")
        return 0
    if args[0] != "mcp":
        return _usage_error(f"unknown command {args[0]!r}", "the commands are: mcp", PROG)
    return mcp_main(args[1:])


def mcp_main(args: list[str]) -> int:
    prog = "claudex mcp"
    if not args or args[0] in ("-h", "--help", "help"):
        if len(args) > 1 and args[0] == "help":
            return mcp_main([args[1], "--help"])
        (sys.stdout if args else sys.stderr).write(mcp_help())
        return 0 if args else 2
    verb = args[0]
    known = verbs()
    if verb not in known:
        what = "option" if verb.startswith("-") else "verb"
        return _usage_error(f"unknown {what} {verb!r}", "the verbs are: " + ", ".join(known), prog)
    module = importlib.import_module(f"claudex_mcp.cli.commands.{verb.replace('-', '_')}")
    return module.main(args[1:], prog=f"{prog} {verb}")


if __name__ == "__main__":
    raise SystemExit(main())
