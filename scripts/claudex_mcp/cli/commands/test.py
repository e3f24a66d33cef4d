"""Start a server exactly as a client would and hold a real MCP session with it.

A registry server starts through the launcher ('claudex mcp run'); a server folder starts from
its manifest; a remote server is reached at its URL. The session: initialize, tools/list (and
prompts/list and resources/list for the capabilities the manifest declares), ping, shutdown.
Reports name, version, protocol, latency and tools, or the cause of the failure: missing env,
command not found, crash on start (with the stderr tail), timeout, a non-MCP answer, a declared
capability that is not served, an invalid tool input schema. --suite also runs the server's own
tests and shows the ones that failed. Exit 0 healthy (and the suite passed), else 1.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp test codex",
    "claudex mcp test ./my-server --suite",
    "claudex mcp test qdrant --json --jq .tools",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("target", metavar="SERVER|PATH", help="a server in the registry, or a server folder")
    p.add_argument("--timeout", type=float, help="seconds to wait (default: healthCheck.timeout, else 10)")
    p.add_argument("--suite", action="store_true",
                   help="also run the server's own tests (its tests/ folder): npm test, or pytest in its venv's "
                        "Python with its requirements-test.txt from claudex's cache")
    common.add_project(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    common.guard_terminal()  # a server's words never drive the terminal
    from claudex_mcp.install import suite
    from claudex_mcp.runtime import checks
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index

    target = Path(args.target)
    if "/" in args.target or args.target.startswith(".") or (target.is_dir() and (target / "manifest.json").exists()):
        entry = index.folder_entry(target)
        result = checks.check_folder(entry, dict(os.environ), args.timeout)
    else:
        registry, found = common.registry_index()
        entry = index.require_valid(index.server_entry(found, args.target))
        layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
        result = checks.check(entry, layers, dict(os.environ), args.timeout)
    if "toolNames" in result:  # test lists the tools by name; status counts them
        result["tools"] = result.pop("toolNames")
    if args.suite:
        result["suite"] = suite.run_suite(entry["folder"])
    healthy = result["state"] in ("healthy", "degraded") and result.get("suite", {}).get("passed", True) is not False
    if args.json:
        common.write_json(result)
    else:
        _print(result)
    return 0 if healthy else 1


def _print(r: dict) -> None:
    if r["state"] in ("healthy", "degraded"):
        info = r.get("serverInfo", {})
        state = common.paint(r["state"], "32" if r["state"] == "healthy" else "33")
        print(f"{state}  {r['name']}: {info.get('name')} {info.get('version')}, "
              f"protocol {r.get('protocolVersion')}, {r['latencyMs']:.0f} ms")
        print(f"  tools: {', '.join(r['tools']) or '-'}")
        if r["state"] == "degraded":
            print(common.paint(f"  degraded: {r['error']}", "33"))
    else:
        print(f"{common.paint(r['state'], '31')}  {r['name']}: {r.get('error')}")
        if r.get("hint"):
            print(f"  hint: {r['hint']}")
        for line in r.get("stderr", []):
            print(f"  | {line}")
    suite = r.get("suite")
    if suite:
        print(f"  suite: {suite.get('summary') or suite.get('reason')}")
        for line in suite.get("failures", []):
            print(f"  | {line}")
        if suite.get("hint"):
            print(f"  hint: {suite['hint']}")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp test") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
