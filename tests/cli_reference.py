"""Generates docs/cli.md from the --help of `claudex mcp` and of each verb, so the reference
cannot drift from the code. `python tests/cli_reference.py --write` (or `make docs`) rewrites it;
tests/test_docs.py fails when it is stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
sys.path.insert(0, str(ROOT / "scripts"))


def _help(*argv: str, module: str = "claudex_mcp.cli.dispatch") -> str:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", module, *argv, "--help"],
                          capture_output=True, text=True, env=env, check=True)
    return proc.stdout


def render() -> str:
    from claudex_mcp.cli.dispatch import verbs

    parts = ["# CLI reference\n",
             "<!-- Generated from --help by `make docs` (tests/cli_reference.py). Do not edit by hand. -->\n",
             "Exit codes, the error object and output modes are described in [conventions](conventions.md).\n",
             "## claudex mcp\n", "```text\n" + _help("mcp") + "```\n"]
    for verb in verbs():
        parts += [f"## {verb}\n", "```text\n" + _help("mcp", verb) + "```\n"]
    from claudex_mcp.cli.pipes import PIPES

    parts += ["# Pipe scripts\n",
              "On PATH after `make install` (activate `.venv`). Each is a twin of a verb over the same core "
              "call, or the verb itself under another name.\n",
              "| script | what |\n| --- | --- |\n" + "".join(f"| `{n}` | {w} |\n" for n, (_, w) in PIPES.items())]
    for name in PIPES:
        parts += [f"## {name}\n", "```text\n" + _help(name, module="claudex_mcp.cli.pipes") + "```\n"]
    return "\n".join(parts)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        TARGET.write_text(render())
    else:
        sys.stdout.write(render())
