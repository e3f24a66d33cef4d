"""Add a server from a command or a URL, as 'claude mcp add' does: a manifest is written for it.

A local command: 'add NAME [-e K=V ...] -- COMMAND [ARGS...]'. A remote server: 'add NAME URL
[-t http|sse] [-H K=V ...]' (or --url URL). The server gets a generated manifest (version 0.0.0)
in the registry through the same atomic path as install, and the clients claudex wrote are
regenerated. 'npx -y PKG' and 'uvx PKG' are pinned to the version the registry gives now
(PKG@X.Y.Z; --no-pin keeps the name floating and fetches nothing) and fetched into npm's or uv's
cache, so that the first start does not wait for a download. A value that looks like a secret
(an --env API_KEY, an Authorization header, a --token=... argument, a known token prefix) never
lands in the manifest: it moves to your user layer (mode 600) behind ${VAR}; the launcher gives
it to a command, and the clients get a remote server's headers from 'claudex mcp headers NAME'.
A password in a URL is kept there too, and is also for you to export (clients expand a URL from
their own environment). The result names secrets by variable only.
Scopes as in Claude Code: -s user (the default) is every project; -s project is this project
only (enabled in its .claudex/mcp.json, the server waits in disabled/ elsewhere, and the clients
see it in that folder only: Claude Code's local scope, Codex's <dir>/.codex/config.toml where
Codex trusts the folder), as --project/--project-dir; -s local (a private per-project entry) has
no claudex equivalent and is refused.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp add everything -- npx -y @modelcontextprotocol/server-everything",
    "claudex mcp add time -- uvx mcp-server-time --local-timezone UTC",
    "claudex mcp add github -e GITHUB_TOKEN=ghp_xxx -- npx -y @modelcontextprotocol/server-github",
    "claudex mcp add --transport http docs https://mcp.example.com/mcp -H 'Authorization: Bearer sk-xxx'",
    "claudex mcp add events --url https://mcp.example.com/sse --transport sse --json",
    "claudex mcp add sqlite -s project --no-pin -- uvx mcp-server-sqlite --db-path ./data.db",
)
SCOPES = ("local", "project", "user")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.usage = (f"{prog} NAME [-e KEY=VALUE ...] [-s user|project] [--no-pin] [--json] -- COMMAND [ARGS...]\n"
               f"       {prog} NAME URL|--url URL [-t http|sse] [-H 'NAME: VALUE' ...] [-s user|project] [--json]")
    p.add_argument("name", help="the server's name: lowercase letters, digits and dashes")
    p.add_argument("argv", nargs="*", metavar="COMMAND [ARGS] | URL",
                   help="the command and its arguments, after --; or the URL of a remote server")
    parse = p.parse_intermixed_args  # options may stand between NAME and the URL or command

    def parse_args(argv=None, namespace=None):
        # argparse gives "--" and what follows to no one once NAME is taken: split it off first.
        argv = list(argv or [])
        command = argv[argv.index("--") + 1:] if "--" in argv else []
        args = parse(argv[:argv.index("--")] if "--" in argv else argv, namespace)
        args.after_dashes = bool(command)
        args.argv = list(args.argv) + command
        return args
    p.parse_args = parse_args
    p.add_argument("--url", help="the URL of a remote (http or sse) server")
    p.add_argument("-t", "--transport", choices=("stdio", "http", "sse"),
                   help="stdio for a command; http (streamable HTTP, the default for a URL) or sse for a URL")
    p.add_argument("-H", "--header", action="append", metavar="NAME=VALUE",
                   help="an HTTP header for a URL, 'Name: value' or Name=value (repeatable)")
    p.add_argument("-e", "--env", action="append", metavar="KEY=VALUE",
                   help="an environment variable of the command (repeatable)")
    p.add_argument("-s", "--scope", choices=SCOPES,
                   help="Claude Code's scopes: user (the default: every project), project (this project only, "
                        "as --project-dir .); local is refused")
    p.add_argument("--no-pin", action="store_true",
                   help="keep 'npx -y PKG' / 'uvx PKG' floating (the newest at each start) and fetch nothing now")
    common.add_project(p)
    common.add_json(p)
    return p


def _target(args: argparse.Namespace) -> tuple[str | None, list[str], str | None]:
    """(url, command and arguments, transport) from the command line, as claude mcp add reads it:
    a lone http(s) URL in place of the command is the server's URL."""
    from claudex_mcp.errors import UsageError

    url, argv, transport = args.url, list(args.argv), args.transport
    if url is None and not args.after_dashes and len(argv) == 1 and re.match(r"^https?://", argv[0], re.I):
        url, argv = argv[0], []
    if url is None and not argv:
        raise UsageError("give the command after --, or the URL of a remote server", code="no_command",
                         hint=f"claudex mcp add {args.name} -- npx -y @acme/server, or "
                              f"claudex mcp add --transport http {args.name} https://mcp.example.com/mcp")
    if url is not None and argv:
        raise UsageError("give a command or a URL, not both", code="command_and_url",
                         hint="a remote server has a URL; a local one a command (after --)")
    if transport in ("http", "sse") and url is None:
        raise UsageError(f"--transport {transport} needs the server's URL", code="transport_without_url",
                         hint=f"claudex mcp add --transport {transport} {args.name} https://mcp.example.com/mcp; "
                              f"a command always runs over stdio")
    if transport == "stdio" and url is not None:
        raise UsageError("--transport stdio is for a command, not a URL", code="transport_without_url",
                         hint="use --transport http or sse for a URL, or give the command after --")
    return url, argv, None if transport == "stdio" else transport


def _where(args: argparse.Namespace):
    """The project the server is for (None: every project), from --scope or --project/--project-dir."""
    import os

    from claudex_mcp.settings import project
    from claudex_mcp.errors import UsageError

    if args.scope and (args.project or args.project_dir):
        raise UsageError("give -s/--scope or --project/--project-dir, not both", code="scope_and_project",
                         hint="-s project is the project of the working directory; --project-dir DIR names one")
    if args.scope == "local":
        raise UsageError("claudex has no local scope (Claude Code's private entry for one project)",
                         code="unsupported_scope",
                         hint="-s project enables it for this project only (in ./.claudex/mcp.json, which "
                              "holds no secret), -s user (the default) for every project")
    if args.scope == "project":
        return project.discover() or project.by_dir(os.getcwd())
    return project.resolve(args.project, args.project_dir) if (args.project or args.project_dir) else None


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.install import adopt
    from claudex_mcp.runtime import runners
    from claudex_mcp import paths

    adopt.check_name(args.name)
    url, argv, transport = _target(args)
    where = _where(args)
    spec = adopt.definition(command=argv[0] if argv else None, args=argv[1:], url=url, transport=transport,
                            env=adopt.parse_pairs(args.env, "env"), headers=adopt.parse_pairs(args.header, "header"))
    registry = paths.registry_dir()
    report = common.progress(not args.json)
    description = "Added with 'claudex mcp add'."
    adopt.to_manifest(args.name, spec, description)  # a definition that cannot be a manifest fails before any download
    package = runners.find(spec["command"], spec["args"]) if spec["transport"] == "stdio" and not args.no_pin else None
    pinned = None
    if package is not None:
        adopt.check_free(registry, args.name)  # not worth a download; add checks again under the lock
        report("resolving", f"{package.label()} ({package.manager})")
        version = runners.resolve(package)
        spec["args"][package.index] = package.with_version(version)
        report("downloading", f"{package.with_version(version)} into {package.manager}'s cache")
        runners.fetch(package, version)
        pinned = {"manager": package.manager, "package": package.name, "version": version}
    adopted = adopt.to_manifest(args.name, spec, description)
    result = adopt.add(registry, adopted, {"type": "added"}, project=where, report=report)
    result["pinned"] = pinned
    if args.json:
        common.write_json(result)
        return 0
    scope = f" for project {where.name}" if where else ""
    common.print_result(result, f"added {result['name']} ({result['transport']}){scope} in {result['folder']}")
    if pinned:
        print(f"  pinned {pinned['package']}@{pinned['version']}, fetched into {pinned['manager']}'s cache")
    if result["secrets"]["userLayer"]:
        print(f"  kept in your user layer (mode 600): {', '.join(result['secrets']['userLayer'])}")
    if result["secrets"]["export"]:
        print(f"  export before starting your client: {', '.join(result['secrets']['export'])}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp add") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
