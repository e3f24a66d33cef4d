"""Print the shell completion script for bash, zsh or fish (verbs, flags, server names).

Install it once, in the folder where the shell looks (the examples make it first); it completes
verbs and their aliases, each verb's flags and choices, server names from the registry and, for
'call', the tools of the server's last check:

  bash  ~/.local/share/bash-completion/completions/claudex
  zsh   ~/.zfunc/_claudex   (with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)
  fish  ~/.config/fish/completions/claudex.fish

Then open a new shell. The script asks claudex for the candidates at each TAB, so it never goes
stale when verbs or servers change.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "mkdir -p ~/.local/share/bash-completion/completions && "
    "claudex mcp completion bash > ~/.local/share/bash-completion/completions/claudex",
    "mkdir -p ~/.zfunc && claudex mcp completion zsh > ~/.zfunc/_claudex",
    "mkdir -p ~/.config/fish/completions && claudex mcp completion fish > ~/.config/fish/completions/claudex.fish",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.cli import completion

    sys.stdout.write(completion.SCRIPTS[args.shell])
    return 0


def complete(words: list[str]) -> int:
    """The hidden entry the scripts call at each TAB: candidates on stdout, never an error (a
    completion that fails offers nothing rather than printing into the user's command line)."""
    try:
        from claudex_mcp.cli import completion

        for line in completion.candidates(words):
            sys.stdout.write(line.replace("\n", " ") + "\n")
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - see the docstring
        if os.environ.get("CLAUDEX_DEBUG"):
            raise
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp completion") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["__complete"]:
        return complete(argv[1:])
    return common.run(prog, lambda: build_parser(prog), action, argv)
