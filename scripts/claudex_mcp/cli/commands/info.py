"""Show one server: manifest, location, source and commit, variables, tools and config provenance.

The variables are those the manifest declares (required or optional, secret or not) and whether
each is set, in the environment or in a config layer; values are never shown. The tools and
their descriptions come from the last check ('claudex mcp status' keeps the results); --refresh
checks the server now. Every config value is shown with the layer and file it comes from
(secrets masked), as 'config explain' does. Writes nothing but the status results.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from .. import common

EXAMPLES = (
    "claudex mcp info qdrant",
    "claudex mcp info qdrant --refresh",
    "claudex mcp info codex --json --jq '.variables[] | select(.required and (.set | not)) | .name'",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server")
    p.add_argument("--refresh", action="store_true",
                   help="check the server now (a real MCP session) instead of using the last check")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="with --refresh: seconds to wait (default: healthCheck.timeout, else 10)")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from ... import checks, config, index as index_mod, info, project

    registry, found = common.registry_index()
    entry = index_mod.server_entry(found, args.server)
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    checked = None
    if entry.get("valid"):
        if args.refresh:
            checks.check_all([entry], layers, dict(os.environ), refresh=True, timeout=args.timeout)
        checked = info.last_check(entry["name"])
    doc = info.describe(entry, layers, dict(os.environ), checked)
    if args.json:
        common.write_json(doc)
    else:
        _print(doc)
    return 0


def _print(d: dict) -> None:
    bold = lambda text: common.paint(text, "1")  # noqa: E731
    print(f"{bold(d['name'])} {d.get('version') or ''}".rstrip() + (f"  {d['description']}" if d.get("description") else ""))
    print(f"  location: {d['location']} ({d['folder']})")
    print(f"  source: {_source(d['source'])}")
    for label, key in (("installed", "installedAt"), ("updated", "updatedAt")):
        if d.get(key):
            print(f"  {label}: {d[key]}")
    if not d["valid"]:
        print(common.paint("  invalid:", "31"))
        for problem in d.get("problems", []):
            print(f"    {problem.get('pointer') or problem.get('file')}: {problem['message']}")
        return
    state = common.paint("enabled", "32") if d["enabled"] else common.paint("disabled", "31")
    where = f" in project {d['project']['name']}" if d.get("project") else ""
    print(f"  state: {state}{where}")
    if d["transport"] == "stdio":
        print(f"  command: {' '.join(d['command'])}")
    else:
        print(f"  url: {d['url']} ({d['transport']})")
    if d.get("capabilities"):
        print(f"  capabilities: {', '.join(d['capabilities'])}")
    print()
    print(bold("variables") + ("" if d["variables"] else "  none declared"))
    for v in d["variables"]:
        kind = ("required" if v["required"] else "optional") + (", secret" if v["secret"] else "")
        if v["set"]:
            shown = common.paint("set", "32") + f" ({v['from']})"
        elif v["required"]:
            shown = common.paint("not set", "31")
        else:
            shown = "not set"
        print(f"  {v['name']}  [{kind}]  {shown}")
        if v.get("description"):
            print(common.paint(f"      {v['description']}", "2"))
    print()
    tools = d["tools"]
    if not tools["checked"]:
        print(bold("tools") + f"  not checked yet: run 'claudex mcp info {d['name']} --refresh' (or 'claudex mcp status')")
    elif tools["list"] is None:
        why = f": {tools['error']}" if tools.get("error") else ""
        print(bold("tools") + f"  unknown: the last check ({tools.get('checkedAt')}) found it {tools.get('state')}{why}")
    else:
        print(bold("tools") + f"  (checked {tools.get('checkedAt')}; --refresh checks again)")
        for tool in tools["list"]:
            first = (tool.get("description") or "").strip().splitlines()
            print(f"  {tool['name']}" + (f"  {first[0]}" if first else ""))
    print()
    print(bold("config") + ("" if d["config"] else "  nothing set in any layer"))
    for item in d["config"]:
        value = "removed (null)" if item.get("removed") else _json(item.get("value"))
        print(f"  {item['key']} = {value}")
        print(common.paint(f"      from {item['layer']}: {item['file']}", "2"))


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _source(source) -> str:
    if isinstance(source, dict):
        parts = [str(source.get("url") or source.get("path") or source.get("type") or "")]
        if source.get("ref"):
            parts.append(f"@{source['ref']}")
        if source.get("commit"):
            parts.append(f" (commit {source['commit'][:12]})")
        if source.get("subdir"):
            parts.append(f", folder {source['subdir']}")
        return "".join(parts) or _json(source)
    return str(source) if source else "-"


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp info") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
