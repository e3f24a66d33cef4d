"""Install a server from a folder or a git repository into the registry's installed/.

Atomic: the server is fetched, validated, checked for compatibility and conflicts, given its
dependencies (a venv for requirements.txt / pyproject.toml, npm for package.json) and normalised
in a staging folder on the registry's filesystem, then moved in with one rename. A failure,
Ctrl-C or SIGTERM leaves the registry as it was. Sources: a path, or a git URL (https://,
ssh://, git@host:path, file://) with an optional @ref (tag, branch or commit), and --subdir for a
server in a folder of the repository. A local path in requirements.txt that leaves the server
folder (../lib/<dist>) must stay inside the repository holding it; that package is copied into
the server's vendor/ folder. Absolute paths and other escapes are refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp install ./my-server",
    "claudex mcp install https://github.com/acme/qdrant-mcp.git@v1.4.0",
    "claudex mcp install git@github.com:acme/tools.git --ref main --json",
    "claudex mcp install https://github.com/acme/servers.git --subdir mcp-servers/search",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_install_options(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.install import lifecycle
    from claudex_mcp import paths

    result = lifecycle.install(paths.registry_dir(), args.source, ref=args.ref, submodules=args.submodules, subdir=args.subdir, ignore_scripts=args.ignore_scripts, report=common.progress(not args.json))
    if args.json:
        common.write_json(result)
    else:
        common.print_result(result, f"installed {result['name']} {result['version']} in {result['folder']}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp install") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
