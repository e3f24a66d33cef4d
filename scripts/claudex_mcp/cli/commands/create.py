"""Scaffold a new MCP server folder from a copier template (Python, official SDK).

The folder has manifest.json, requirements.txt, server.py (thin tools), a core module with the
logic, tests/ (a real MCP session) and a README; it passes 'claudex mcp validate' and
'claudex mcp test --suite' as it is, and installs with 'claudex mcp install'.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .. import common

EXAMPLES = (
    "claudex mcp create weather",
    "claudex mcp create weather --dest ~/src/weather --description 'Forecasts for agents.'",
    "claudex mcp create weather --json && claudex mcp test ./weather --suite",
)
TEMPLATES = ("python-server",)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("name", help="the server's name: lowercase letters, digits and dashes")
    p.add_argument("--dest", metavar="DIR", help="where to create it (default: ./NAME)")
    p.add_argument("--description", default="An MCP server for Claudex.", help="one sentence for the manifest")
    p.add_argument("--author", default="Claudex developers")
    p.add_argument("--license", default="MIT", help="an SPDX license expression")
    p.add_argument("--template", choices=TEMPLATES, default="python-server", help="the template (default: python-server)")
    common.add_json(p)
    return p


def _check_metadata(args: argparse.Namespace) -> None:
    """The values that go into the new manifest must pass its schema, checked before anything is made."""
    import re

    from ... import schema
    from ...errors import UsageError

    fields = schema.load_schema("manifest")["properties"]["metadata"]["properties"]
    for option, value in (("description", args.description), ("license", args.license)):
        rule = fields[option]
        too_long = len(value) > rule.get("maxLength", len(value)) or len(value) < rule.get("minLength", 0)
        if too_long or ("pattern" in rule and not re.search(rule["pattern"], value)):
            raise UsageError(f"--{option}: {value[:60]!r}{'...' if len(value) > 60 else ''} is not a valid {option}",
                             code=f"invalid_{option}", hint=rule["description"])


def action(args: argparse.Namespace) -> int:
    from ... import paths, validation
    from ...errors import Conflict, ExternalFailure, InvalidInput
    from ...lifecycle import check_name

    check_name(args.name)
    _check_metadata(args)
    dest = Path(args.dest or args.name).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not empty", path=str(dest), code="exists",
                       hint="choose another --dest, or remove it")
    template = paths.PROJECT_ROOT / "templates" / args.template
    import copier

    try:
        copier.run_copy(str(template), dest, data={"name": args.name, "description": args.description,
                                                   "author": args.author, "license": args.license},
                        defaults=True, quiet=True, unsafe=False, vcs_ref="HEAD" if (template / ".git").exists() else None)
    except Exception as exc:  # copier's own errors: say which and what, never a traceback
        raise ExternalFailure(f"copier could not create {dest}: {type(exc).__name__}: {exc}", code="copier_failed",
                              hint="check --dest and the template; nothing else was changed") from None
    problems = validation.validate_folder(dest)
    if problems:  # a template bug: keep the folder to look at, but say so
        raise InvalidInput(f"the new server at {dest} is not valid: {problems[0]['message']}", path=str(dest),
                           code="invalid_template", hint=f"run 'claudex mcp validate {dest}'; this is a template bug")
    result = {"name": args.name, "folder": str(dest), "template": args.template,
              "files": sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())}
    if args.json:
        common.write_json(result)
    else:
        print(f"created {args.name} in {dest}")
        print(f"  next: claudex mcp test {dest} --suite && claudex mcp install {dest}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp create") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
