"""`claudex mcp <verb>`: finds the verb's module and hands it the rest of the command line.

It knows no verbs: each module in cli/commands/ is one, summarised by its docstring's first
line, which is read as text so that help never imports the verbs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from claudex_mcp import __version__

COMMANDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands")
PROG = "claudex"
# What users of other tools type (docker/npm/pipx `ls`, `rm`/`remove`, `claude mcp get`): other
# names for a verb, not verbs of their own, so `make mcp-*`, tasks.py and docs/cli.md list only
# the real verbs.
ALIASES = {"ls": "list", "rm": "uninstall", "remove": "uninstall", "get": "info"}

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
    aliases = ", ".join(f"{alias} = {verb}" for alias, verb in ALIASES.items())
    return f"""usage: claudex mcp <verb> [--help] [<args>...]

Manage the MCP servers that Claude Code, Codex and the other agents start.

verbs:
{lines}

aliases: {aliases}

Run 'claudex mcp <verb> --help' for a verb's options and examples.
Exit codes: 0 ok, 1 invalid input or state, 2 usage, 3 conflict or lock held,
4 not found, 5 external tool failed, 130 interrupted (docs/conventions.md).
"""


def version_line() -> str:
    """``claudex <version>``, plus ``(git <describe>)`` when claudex runs from a git checkout."""
    described = _git_describe()
    return f"claudex {__version__}" + (f" (git {described})" if described else "") + "\n"


def _git_describe() -> str | None:
    # The package version is __version__ itself (pyproject reads it as the dist's version), so
    # importlib.metadata would add ~25 ms to say the same. git runs only in a checkout.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    import subprocess

    try:
        proc = subprocess.run(["git", "-C", root, "describe", "--tags", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=2, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    described = proc.stdout.strip()
    return described if proc.returncode == 0 and described and described.isprintable() else None


def did_you_mean(word: str, choices) -> list[str]:
    """The closest of ``choices`` to a mistyped ``word`` (difflib is standard library)."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)


def _usage_error(message: str, hint: str, prog: str) -> int:
    # Imported here: the common path (help, a known verb) does not need argparse or JSON output.
    from claudex_mcp.errors import UsageError
    from claudex_mcp.cli.common import report_error

    exc = UsageError(message, hint=hint)
    report_error(exc, prog)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        (sys.stdout if args else sys.stderr).write(TOP_HELP)
        return 0 if args else 2
    if args[0] in ("-V", "--version", "version"):
        sys.stdout.write(version_line())
        return 0
    if args[0] != "mcp":
        close = did_you_mean(args[0], ["mcp"])
        return _usage_error(f"unknown command {args[0]!r}",
                            ("did you mean mcp? " if close else "") + "the commands are: mcp", PROG)
    return mcp_main(args[1:])


def mcp_main(args: list[str]) -> int:
    prog = "claudex mcp"
    if not args or args[0] in ("-h", "--help", "help"):
        if len(args) > 1 and args[0] == "help":
            return mcp_main([args[1], "--help"])
        (sys.stdout if args else sys.stderr).write(mcp_help())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        sys.stdout.write(version_line())
        return 0
    verb = ALIASES.get(args[0], args[0])
    known = verbs()
    if verb not in known:
        what = "option" if verb.startswith("-") else "verb"
        close = [] if verb.startswith("-") else did_you_mean(verb, list(known) + list(ALIASES))
        close = [c for c in close if ALIASES.get(c) not in close]  # "lst": list, not "list or ls"
        hint = (f"did you mean {' or '.join(close)}? " if close else "") + "the verbs are: " + ", ".join(known)
        return _usage_error(f"unknown {what} {verb!r}", hint, prog)
    module = importlib.import_module(f"claudex_mcp.cli.commands.{verb.replace('-', '_')}")
    return module.main(args[1:], prog=f"{prog} {verb}")


if __name__ == "__main__":
    raise SystemExit(main())
