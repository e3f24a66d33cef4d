"""Scaffold a new MCP server folder from a copier template: node, python, shell or custom.

node uses the official TypeScript SDK with zod schemas, python the official Python SDK, shell
serves the scripts in tools/ as MCP tools; custom is any copier template by path or git URL (@REF).

On a terminal it asks copier's questionnaire (server type with the arrow keys, description,
author, license, initial tools, and what the template adds); --defaults or --data never ask.
The answers are recorded in .copier-answers.yml, so `copier update` can bring the folder forward.
The folder is rendered beside its destination, checked with 'claudex mcp validate', then moved
into place: a refusal or a failure leaves nothing behind. A name that is invalid or that a
registry server already has, and a non-empty destination, are refused before anything is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp create weather                                   # asks, on a terminal",
    "claudex mcp create weather --template python --defaults --json",
    "claudex mcp create weather --template node --data tools=forecast,alerts --data author='Ada L.'",
    "claudex mcp create weather --template ./my-template --trust  # a custom copier template",
    "claudex mcp create weather --template https://example.org/t.git@v1.2.0",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("name", help="the server's name: lowercase letters, digits and dashes")
    p.add_argument("--template", metavar="TEMPLATE",
                   help="node, python, shell, a copier template folder, or a git URL with an optional @REF "
                        "(default: asked on a terminal, else node)")
    p.add_argument("--defaults", action="store_true", help="never ask: every answer not given takes its default")
    p.add_argument("--data", metavar="KEY=VALUE", action="append", default=[],
                   help="an answer (repeatable): description, author, license, tools (e.g. tools=greet,add_numbers), "
                        "tool_timeout, or a question a custom template asks; never a key the template computes; "
                        "never asks")
    p.add_argument("--output", "--dest", dest="output", metavar="DIR",
                   help="the folder to create (default: ./NAME); it must not exist or be empty")
    p.add_argument("--description", help="shorthand for --data description=...")
    p.add_argument("--author", help="shorthand for --data author=...")
    p.add_argument("--license", help="shorthand for --data license=... (an SPDX expression)")
    p.add_argument("--trust", action="store_true",
                   help="allow a custom template's unsafe copier features (tasks, migrations, Jinja extensions); "
                        "copier's own trusted list is not read")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    import sys

    from claudex_mcp.install import scaffold

    data = _parse_data(args.data)
    for key in ("description", "author", "license"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    template = args.template if args.template is not None else data.pop("template", None)
    interactive = (not args.defaults and not data and sys.stdin.isatty() and sys.stdout.isatty())
    if template is None and interactive:
        template = _ask_template()
    plan = scaffold.plan(args.name, scaffold.DEFAULT_TEMPLATE if template is None else template, data, args.output)
    result = scaffold.create(plan, interactive=interactive, trust=args.trust)
    if args.json:
        common.write_json(result)
    else:
        print(common.paint(f"✓ Created server structure at {result['folder']}/", "32"))
        print("Next steps:")
        for step in result["next"]:
            print(f"  {step}")
    return 0


def _parse_data(items: list[str]) -> dict[str, str]:
    from claudex_mcp.errors import UsageError

    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--data {item!r} is not KEY=VALUE", code="invalid_data",
                             hint="give one answer per --data, e.g. --data tools=greet,add_numbers")
        if key == "name" or key.startswith("_"):
            raise UsageError(f"--data cannot set {key!r}", code="invalid_data",
                             hint="the name is the first argument; keys starting with _ are copier's own")
        data[key] = value
    return data


def _ask_template() -> str:
    """The plan's first question, asked with questionary, the prompt library copier's own
    questionnaire uses (same look, arrow keys): copier cannot ask it, as the answer picks the
    template that holds the other questions."""
    import questionary

    from claudex_mcp.install import scaffold

    choices = [questionary.Choice(title, value) for value, title in scaffold.TEMPLATE_TITLES.items()]
    choices.append(questionary.Choice("Custom Template", "custom"))
    chosen = questionary.select("Server type:", choices=choices, default=choices[0]).unsafe_ask()
    if chosen == "custom":
        chosen = questionary.text("Template (a copier template folder, or a git URL with @REF):",
                                  validate=lambda s: bool(s.strip()) or "give a path or a URL").unsafe_ask().strip()
    return chosen


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp create") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
