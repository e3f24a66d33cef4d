"""atomic-install: install a server from a folder or a git repository, atomically, and print the
result as JSON (the pipe-stage twin of `claudex mcp install`, over the same core call).

The server is fetched, validated, given its dependencies and checked in a staging folder on the
registry's filesystem, then moved in with one rename; any failure leaves the registry as it was.
stdout carries only the JSON result; a failure writes nothing there and one error object to stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "atomic-install ./my-server",
    "atomic-install https://github.com/acme/qdrant-mcp.git@v1.4.0 | jq -r .folder",
    "atomic-install git@github.com:acme/tools.git --ref main --jq .version",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_install_options(p)
    p.add_argument("--jq", metavar="EXPR", help="filter the JSON result with a jq expression")
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.install import lifecycle
    from claudex_mcp import paths

    common.write_json(lifecycle.install(paths.registry_dir(), args.source, ref=args.ref, submodules=args.submodules,
                                       subdir=args.subdir, ignore_scripts=args.ignore_scripts,
                                       extras=common.extras(args.with_extras)))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "atomic-install") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
