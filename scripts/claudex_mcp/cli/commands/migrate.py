"""Bring the MCP servers your clients already define into the registry, with a backup and rollback.

Reads Claude Code (~/.claude.json: user and per-project servers; .mcp.json in the home and the
working folder), Claude Desktop, Codex (config.toml), Cursor (~/.cursor/mcp.json, .cursor/mcp.json)
and VS Code (.vscode/mcp.json, with comments); --from FILE reads only the files named. Each entry
becomes a registry server with a generated manifest (its origin recorded), then becomes that
server's launcher entry in the same file; everything else in the file stays byte for byte.
Literal secrets (env values, headers, arguments, URL passwords and tokens) never reach a manifest
or a shared file: each becomes a ${VAR} reference with its value in your user layer (mode 600),
named in the report. A project's server is enabled for that project only (a projects[DIR] entry
of ~/.claude.json: only a real folder of yours inside HOME). The original Claudex's Node codex
entry maps to the core codex server. What it changes is first recorded in a backup set (folder
700, files 600, no secret) under $XDG_STATE_HOME/claudex/migrations/<ID>/; any failure rolls back.
--rollback [ID] puts back the entries it replaced (a file untouched since: byte for byte; one a
client has written since: only those entries, keeping the client's changes; an entry changed
since: refused, exit 3, nothing changed), removes the servers it added and undoes its config
layer keys. See docs/migrate.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp migrate --dry-run",
    "claudex mcp migrate",
    "claudex mcp migrate --from ~/.cursor/mcp.json --on-conflict rename --json",
    "claudex mcp migrate --list-backups",
    "claudex mcp migrate --rollback",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("--from", dest="sources", action="append", metavar="auto|FILE",
                   help="a client's config file to read (repeatable; default: auto, every file found)")
    p.add_argument("--dry-run", action="store_true", help="show what would change, and change nothing")
    p.add_argument("--on-conflict", choices=("skip", "rename", "replace"), default="skip",
                   help="a name already in the registry, or defined differently by two files: skip the "
                        "later one (default), rename it (NAME-2), or replace (the later one wins; never a core server)")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--rollback", nargs="?", const="", metavar="ID",
                        help="undo a migration (default: the latest): put back the entries it replaced, "
                             "remove its servers")
    action.add_argument("--list-backups", action="store_true", help="list the backup sets of past migrations")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.migrate import apply, backup
    from claudex_mcp import paths

    registry = paths.registry_dir()
    report = common.progress(not args.json)
    if args.list_backups:
        found = backup.list_backups()
        if args.json:
            common.write_json({"backups": found})
        else:
            for item in found:
                state = "rolled back" if item["rolledBack"] else ("complete" if item["complete"] else "incomplete")
                print(f"{item['id']}  {state}  servers: {', '.join(item['servers']) or '-'}  {item['folder']}")
        return 0
    if args.rollback is not None:
        result = backup.rollback(registry, args.rollback or None, report=report)
        if args.json:
            common.write_json(result)
        else:
            _print_rollback(result)
        return 0
    given = args.sources or ["auto"]
    files = [f for f in given if f != "auto"]
    result = apply.migrate(registry, files or None, auto="auto" in given, on_conflict=args.on_conflict,
                           dry_run=args.dry_run, report=report)
    if args.json:
        common.write_json(result)
        return 0
    _print(result)
    return 0


def _print(result: dict) -> None:
    would = "would " if result["dryRun"] else ""
    if not result["sources"]:
        print("no client config files found")
    for source in result["sources"]:
        extra = f" ({source['problem']})" if source.get("problem") else ""
        print(f"read {source['file']} ({source['client']}): {source['servers']} server(s){extra}")
    for server in result["servers"]:
        scope = f"for project {', '.join(server['projects'])}" if server["projects"] else "everywhere"
        verb = "replace" if server["replace"] else "reuse" if server["existing"] else "add"
        print(f"{would}{verb} {server['name']} ({server['transport']}, {scope}) from {', '.join(server['from'])}")
        if server["secrets"]["userLayer"]:
            print(f"  secrets {would + 'be ' if would else ''}kept in your user layer: {', '.join(server['secrets']['userLayer'])}")
        if server["secrets"]["export"]:
            print(f"  export before starting your client: {', '.join(server['secrets']['export'])}")
    if result.get("codex"):
        print(f"{would}map {', '.join(result['codex']['entries'])} to the core codex server")
    for target in result["files"]:
        names = ", ".join(f"{e['entry']} -> {e['server']}" for e in target["entries"])
        print(f"{would}rewrite {target['file']}: {names}")
    for item in result["skipped"]:
        print(f"skipped {item['entry']}: {item['reason']}")
    for done in result.get("regenerated", []):
        state = "regenerated" if done["changed"] else "up to date"
        print(f"{state}: {done['target']} ({done['client']}; {done['reason']})")
    for warning in result["warnings"] + [w for r in result.get("rewritten", []) for w in r["warnings"]]:
        common.warn(warning)
    if result.get("backup"):
        print(f"backup {result['backup']['id']} in {result['backup']['folder']} "
              f"(undo with 'claudex mcp migrate --rollback {result['backup']['id']}')")
    elif not result["dryRun"]:
        print("nothing to migrate")


def _print_rollback(result: dict) -> None:
    print(f"rolled back migration {result['id']}")
    for done in result["restored"]:
        how = ("byte for byte" if done["whole"] else
               "in place; every other change since the migration kept")
        print(f"  restored {done['file']} ({how}): {', '.join(done['entries'])}")
    for name in result["removed"]:
        print(f"  removed server {name}")
    for name in result["restoredServers"]:
        print(f"  put back server {name}")
    for layer in result["layers"]:
        what = "removed (nothing else was in it)" if layer["removed"] else "restored " + ", ".join(layer["keys"])
        print(f"  {layer['file']}: {what}")
    for done in result.get("regenerated", []):
        if done["changed"]:
            print(f"  regenerated {done['target']} ({done['client']})")
    for warning in result.get("warnings", []):
        common.warn(warning)


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp migrate") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
