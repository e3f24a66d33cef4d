"""Show one server: manifest, location, source and commit, extras, variables, tools and config provenance.

The extras are the optional parts the manifest declares, each installed or not ('upgrade NAME
--with EXTRA' adds one, '--without EXTRA' removes it). The variables are those the manifest
declares (required or optional, secret or not) and whether each is set, in the environment or in
a config layer; values are never shown. The tools come with their descriptions and input
schemas: on a terminal one line per argument (type, required or its default, the allowed values,
a nested object's keys), in --json each tool's whole inputSchema. They come from the listing the
last check kept ('claudex mcp status' or an earlier info) when it is under 10 minutes old and the
server, its config and its variables have not changed since; else info asks the server now,
started as its clients start it (--refresh always asks). Every config value is shown with the
layer and file it comes from (secrets masked), as 'config explain' does. Writes nothing but the
status results.
Exit 0 when the document is printed, also for a disabled server or one missing a variable (the
tools section says why there are none); 5 when the server was started, or its URL asked, and did
not answer: the document is still printed, and the error on stderr says why.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp info qdrant",
    "claudex mcp info qdrant --refresh",
    "claudex mcp info codex --json --jq '.variables[] | select(.required and (.set | not)) | .name'",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server")
    p.add_argument("--refresh", action="store_true",
                   help="ask the server for its tools now (a real MCP session) instead of using a kept listing")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="seconds to wait for the server when it is asked (default: healthCheck.timeout, else 10)")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    common.guard_terminal()  # a server's words never drive the terminal
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod
    from claudex_mcp.runtime import info
    from claudex_mcp.errors import ExternalFailure

    registry, found = common.registry_index()
    entry = index_mod.server_entry(found, args.server)
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    checked = None
    if entry.get("valid"):
        checked = info.check(entry, layers, dict(os.environ), refresh=args.refresh, timeout=args.timeout)
    doc = info.describe(entry, layers, dict(os.environ), checked)
    if args.json:
        common.write_json(doc)
    else:
        _print(doc)
    if info.reachable(checked):
        return 0
    sys.stdout.flush()
    tools = doc["tools"]
    raise ExternalFailure(f"{entry['name']} did not answer, so its tools are not listed: {tools.get('error')}",
                          code=tools.get("cause") or "unreachable",
                          hint=tools.get("hint") or f"see 'claudex mcp logs {entry['name']}'")


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
    _print_extras(d["name"], d["extras"])
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
    _print_tools(d["name"], d["tools"])
    print()
    print(bold("config") + ("" if d["config"] else "  nothing set in any layer"))
    for item in d["config"]:
        value = "removed (null)" if item.get("removed") else _json(item.get("value"))
        print(f"  {item['key']} = {value}")
        print(common.paint(f"      from {item['layer']}: {item['file']}", "2"))


def _print_extras(name: str, extras: dict) -> None:
    """The optional extras: which are installed, what each adds, how to change them."""
    if not extras["available"]:
        return
    print("  extras:")
    for extra, description in extras["available"].items():
        state = common.paint("installed", "32") if extra in extras["installed"] else "not installed"
        print(f"    {extra}  [{state}]  {description}")
    missing = [x for x in extras["available"] if x not in extras["installed"]]
    if missing:
        print(common.paint(f"      add: claudex mcp upgrade {name} --with {','.join(missing)}", "2"))


def _print_tools(name: str, tools: dict) -> None:
    from claudex_mcp.runtime import info

    bold = lambda text: common.paint(text, "1")  # noqa: E731
    dim = lambda text: common.paint(text, "2")  # noqa: E731
    if tools["list"] is None:
        if tools.get("state") == "disabled":
            why = f"{name} is disabled here (it is not started; 'claudex mcp enable {name}' turns it on)"
        else:
            why = (tools.get("error") or tools.get("state") or "unknown") + (
                f" (hint: {tools['hint']})" if tools.get("hint") else "")
        print(bold("tools") + f"  not listed: {why}")
        return
    print(bold("tools") + "  " + dim(f"({_when(tools)}; --refresh asks again)" if tools.get("cached") else "(listed now)"))
    if not tools["list"]:
        print("  none")
    for tool in tools["list"]:
        first = (tool.get("description") or "").strip().splitlines()
        print(f"  {common.paint(tool['name'], '36')}" + (f"  {first[0]}" if first else ""))
        rows = info.arguments(tool.get("inputSchema"))
        width = max((len(r["name"]) for r in rows), default=0)
        for row in rows:
            said = [row["type"], "required" if row["required"] else
                    f"default {_json(row['default'])}" if "default" in row else "optional"]
            if "enum" in row:
                said.append("one of " + ", ".join(_json(v) for v in row["enum"]))
            line = f"      {row['name'].ljust(width)}  {', '.join(said)}"
            print(line + (dim(f"  {row['description']}") if row.get("description") else ""))
        if not rows:
            print(dim("      no arguments"))


def _when(tools: dict) -> str:
    age = tools.get("ageSeconds")
    if not isinstance(age, (int, float)):
        return f"listed {tools.get('checkedAt')}"
    if age < 60:
        return f"listed {age:.0f} s ago"
    return f"listed {age / 60:.0f} min ago"


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _source(source) -> str:
    if isinstance(source, dict) and source.get("type") == "catalog":
        package = source.get("package") or {}
        what = (f"{package.get('registryType')} {package.get('identifier')} {package.get('version')}" if package
                else f"remote {(source.get('remote') or {}).get('url')}")
        return (f"{source.get('name')} {source.get('version')} ({what}) from "
                f"{source.get('catalog') or source.get('file')}")
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
