"""The pipe scripts: single-purpose commands for shell pipelines, each on PATH after
`make install` (pyproject.toml's [project.scripts] points each name at main() below) and in
docs/cli.md. A pipe script and its verb are twins over the same core call; an alias is the
verb itself under the name the design card gives it.

`python -m claudex_mcp.cli.pipes NAME [ARGS...]` runs one by name (the docs use this).
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, what it is); the one list of pipe scripts.
PIPES = {
    "mcp-utils": ("claudex_mcp.cli.scan_script", "scan the registry into its index (stage 1)"),
    "merge-config": ("claudex_mcp.cli.merge_script", "index -> effective config of a project (stage 2)"),
    "generate-mcp-json": ("claudex_mcp.cli.generate_script", "effective config -> a client's file (stage 3)"),
    "atomic-install": ("claudex_mcp.cli.install_script", "install a server atomically; the result as JSON"),
    "validate-schema": ("claudex_mcp.cli.commands.validate", "alias of claudex mcp validate"),
    "mcp-config": ("claudex_mcp.cli.commands.config", "alias of claudex mcp config"),
    "cache": ("claudex_mcp.cli.commands.cache", "alias of claudex mcp cache"),
    "migrate-mcp": ("claudex_mcp.cli.commands.migrate", "alias of claudex mcp migrate (the plan's name)"),
}


def run(name: str, argv: list[str] | None = None) -> int:
    module = importlib.import_module(PIPES[name][0])
    return module.main(argv, prog=name)


def main() -> int:
    """The entry point of every pipe script: which one is the name it was started by."""
    import os

    return run(os.path.basename(sys.argv[0]), sys.argv[1:])


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in PIPES:
        sys.stderr.write("usage: python -m claudex_mcp.cli.pipes {" + ",".join(PIPES) + "} [ARGS...]\n")
        raise SystemExit(2)
    raise SystemExit(run(sys.argv[1], sys.argv[2:]))
