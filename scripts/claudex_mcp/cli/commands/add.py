"""Add a server from a command or a URL, as 'claude mcp add' does: a manifest is written for it.

A local command: 'add NAME [--env K=V ...] -- COMMAND [ARGS...]'. A remote server: 'add NAME --url
URL [--transport http|sse] [--header K=V ...]'. The server gets a generated manifest (version
0.0.0) in the registry through the same atomic path as install, and the clients claudex wrote are
regenerated. A value that looks like a secret (an --env API_KEY, an Authorization header, a
known token prefix, a password in the URL) never lands in the manifest: it moves to your user
layer (mode 600) behind ${VAR}, where the launcher reads a command's env and arguments; a URL's
variable is also for you to export (clients expand a URL from their own environment). The result
names secrets by variable only. With --project/--project-dir the server is
enabled for that project only (it waits in disabled/ elsewhere).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import common

EXAMPLES = (
    "claudex mcp add github --env GITHUB_TOKEN=ghp_xxx -- npx -y @modelcontextprotocol/server-github",
    "claudex mcp add docs --url https://mcp.example.com/mcp --header 'Authorization=Bearer ${DOCS_TOKEN}'",
    "claudex mcp add events --url https://mcp.example.com/sse --transport sse --json",
    "claudex mcp add sqlite --project-dir . -- uvx mcp-server-sqlite --db-path ./data.db",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.usage = (f"{prog} NAME [--env KEY=VALUE ...] [--project NAME | --project-dir DIR] [--json] -- COMMAND [ARGS...]\n"
               f"       {prog} NAME --url URL [--transport {{http,sse}}] [--header NAME=VALUE ...] [--json]")
    p.add_argument("name", help="the server's name: lowercase letters, digits and dashes")
    p.add_argument("argv", nargs="*", metavar="COMMAND [ARGS]", help="the command and its arguments, after --")
    parse = p.parse_args

    def parse_args(argv=None, namespace=None):
        # argparse gives "--" and what follows to no one once NAME is taken: split it off first.
        argv = list(argv or [])
        command = argv[argv.index("--") + 1:] if "--" in argv else []
        args = parse(argv[:argv.index("--")] if "--" in argv else argv, namespace)
        args.argv = list(args.argv) + command
        return args
    p.parse_args = parse_args
    p.add_argument("--url", help="the URL of a remote (http or sse) server")
    p.add_argument("--transport", choices=("http", "sse"), help="the remote server's transport (default: http)")
    p.add_argument("--header", action="append", metavar="NAME=VALUE", help="an HTTP header for --url (repeatable)")
    p.add_argument("--env", action="append", metavar="KEY=VALUE", help="an environment variable of the command (repeatable)")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from ... import adopt, paths, project
    from ...errors import UsageError

    adopt.check_name(args.name)
    if args.url is None and not args.argv:
        raise UsageError("give the command after --, or --url for a remote server", code="no_command",
                         hint=f"claudex mcp add {args.name} -- npx -y @acme/server, or claudex mcp add {args.name} --url URL")
    if args.url is not None and args.argv:
        raise UsageError("give a command or --url, not both", code="command_and_url",
                         hint="a remote server has a URL; a local one a command")
    if args.transport and args.url is None:
        raise UsageError("--transport is for --url servers", code="transport_without_url",
                         hint="a command always runs over stdio")
    spec = adopt.definition(command=args.argv[0] if args.argv else None, args=args.argv[1:], url=args.url,
                            transport=args.transport, env=adopt.parse_pairs(args.env, "env"),
                            headers=adopt.parse_pairs(args.header, "header"))
    where = project.resolve(args.project, args.project_dir) if (args.project or args.project_dir) else None
    adopted = adopt.to_manifest(args.name, spec, "Added with 'claudex mcp add'.")
    registry = paths.registry_dir()
    report = common.progress(not args.json)
    result = adopt.add(registry, adopted, {"type": "added"}, project=where, report=report)
    if args.json:
        common.write_json(result)
        return 0
    scope = f" for project {where.name}" if where else ""
    common.print_result(result, f"added {result['name']} ({result['transport']}){scope} in {result['folder']}")
    if result["secrets"]["userLayer"]:
        print(f"  kept in your user layer (mode 600): {', '.join(result['secrets']['userLayer'])}")
    if result["secrets"]["export"]:
        print(f"  export before starting your client: {', '.join(result['secrets']['export'])}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp add") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
