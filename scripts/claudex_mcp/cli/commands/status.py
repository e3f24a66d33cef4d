"""Check every server enabled in the project, in parallel, as its clients would start it.

For each: state (healthy, degraded, unhealthy, disabled, missing env, not installed), latency,
tool count, last start and the pid of the instance a client started (only while it runs; for a
shared server, the one process the gateway runs for every agent, marked "gateway"), and what is
wrong with its fix. Servers are checked at most 8 at a time, each within its
healthCheck.timeout (default 10 s); a result is reused for its healthCheck.interval (default
30 s) unless --refresh or anything it depends on changed (a config layer file, the manifest, the
server's files or venv, a variable it uses), and the table says how old it is. The kept results
hold no secret (`claudex mcp cache clear` removes them). Degraded: the server answers MCP but
its healthCheck.command self-check reports a problem (Codex not installed, no Docker daemon, an
unreachable QDRANT_URL, a provider key missing). Colour follows NO_COLOR, FORCE_COLOR and
CLICOLOR_FORCE; the table fits the terminal (--json has every detail in full). While servers
are checked, a line on a terminal's stderr says which ones are still running (not with --json).
A server whose files changed since it was installed ('claudex mcp verify' fails it) is named on
stderr. Exit 0 when every checked server is healthy, degraded or disabled, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp status",
    "claudex mcp status qdrant --json",
    "claudex mcp status --all --refresh --jq '.[] | select(.state != \"healthy\") | .name'",
)
# Degraded: it answers MCP, but its own self-check reports something to set up (say, Codex not
# installed); reported, not a failure.
FINE = ("healthy", "disabled", "degraded")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server", nargs="?", help="only this server, with every detail")
    p.add_argument("--all", action="store_true", help="also list the servers that are disabled here")
    p.add_argument("--timeout", type=float, help="seconds per server (default: its healthCheck.timeout, else 10)")
    common.add_project(p)
    common.add_refresh(p)
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    common.guard_terminal()  # a server's words never drive the terminal
    from claudex_mcp.runtime import checks
    from claudex_mcp.settings import config, project

    registry, index = common.registry_index(args.refresh)
    # A broken layer file is said once, first; the launcher refuses it, so the rows say why each
    # server did not start (config.Layers, strict=False, leaves it out only here).
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir), strict=False)
    for problem in layers.problems:
        common.warn(f"{problem['message']}; no server starts until it is fixed (hint: {problem['hint']})")
    if layers.notice():  # on stderr, also with --json: the payload keeps its shape
        common.warn(layers.notice())
    # On a terminal, one line on stderr says which servers are still being checked (the checks
    # take seconds); it is erased before the table.
    report = common.progress(not args.json, redraw=True)
    try:
        results = checks.status(index, layers, dict(os.environ), args.server, args.all, args.refresh, args.timeout,
                                report=report)
    finally:
        report.clear()
    for result in results:
        result.pop("toolSchemas", None)  # kept for `info`, which shows them
        _warn_long_names(result)
    from claudex_mcp.catalog import provenance

    for checked in provenance.quick(registry, [r["name"] for r in results]):
        if checked["state"] in (provenance.CHANGED, provenance.MISSING):
            common.warn(f"{checked['name']} changed since it was installed (run 'claudex mcp verify {checked['name']}')")
    if args.json:
        common.write_json(results[0] if args.server and results else results)
    elif args.server:
        _detail(results[0])
    else:
        common.print_table(results, [("NAME", "name"), ("STATE", _state_cell), ("LATENCY", _latency),
                                     ("TOOLS", "tools"), ("PID", _pid), ("CHECKED", _checked),
                                     ("DETAIL", _detail_line)])
    return 0 if all(r["state"] in FINE for r in results) else 1


NAME_LIMIT = 64  # Claude Code refuses a tool whose mcp__<entry>__<tool> is longer


def _warn_long_names(r: dict) -> None:
    """A tool Claude Code would not take: its full name, as its own entry or on the gateway's
    aggregate endpoint (the entry claudex, the tool's own name), over NAME_LIMIT."""
    for entry in dict.fromkeys((r["name"], "claudex")):
        long = [t for t in r.get("toolNames") or [] if len(f"mcp__{entry}__{t}") > NAME_LIMIT]
        if long:
            common.warn(f"{r['name']}: mcp__{entry}__{long[0]} is over the {NAME_LIMIT} characters Claude Code allows "
                        f"for a tool's full name" + (f" ({len(long) - 1} more)" if len(long) > 1 else "")
                        + ("" if entry == r["name"] else " (through the gateway's aggregate endpoint)"))


def _pid(r: dict) -> str | None:
    if r.get("shared"):
        return f"{r['pid']} (gateway)" if r.get("pid") else "gateway"
    return r.get("pid")


COLOURS = {"healthy": "32", "disabled": "2", "degraded": "33"}  # anything else: red


def _state_cell(r: dict) -> tuple[str, str]:
    return r["state"], COLOURS.get(r["state"], "31")


def _checked(r: dict) -> str | None:
    """"now" for a server checked by this run, "12 s ago" for a kept result (--refresh checks again)."""
    if r["state"] in ("invalid", "not installed", "disabled"):  # nothing was started
        return None
    if not r.get("cached"):
        return "now"
    seconds = float(r.get("ageSeconds", 0))
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _latency(r: dict):
    return f"{r['latencyMs']:.0f} ms" if r.get("latencyMs") is not None else None


def _detail_line(r: dict):
    """What is wrong (with its fix), else a pointer to an error of the latest run's log: a server
    that answers now is not shown beside an error as if it were failing."""
    if r.get("error"):
        return r["error"] + (f" ({r['hint']})" if r.get("hint") else "")
    if r.get("lastError"):
        return f"its log has an error since its last start: claudex mcp logs {r['name']}"
    return None


def _detail(r: dict) -> None:
    text, colour = _state_cell(r)
    print(f"{r['name']}: {common.paint(text, colour)}" + (f" (checked {_checked(r)})" if r.get("cached") else ""))
    for label, key in (("version", "version"), ("location", "location"), ("transport", "transport"),
                       ("protocol", "protocolVersion"), ("tools", "toolNames"), ("cause", "cause"),
                       ("error", "error"), ("hint", "hint"), ("pid", "pid"), ("last error in log", "lastError")):
        value = r.get(key)
        if value not in (None, [], ""):
            print(f"  {label}: {', '.join(value) if isinstance(value, list) else value}")
    if r.get("shared"):
        print("  shared: one process for every agent, run by the gateway ('claudex mcp gateway status')")
    if r.get("latencyMs") is not None:
        print(f"  latency: {r['latencyMs']:.0f} ms")
    if r.get("lastStart"):
        print(f"  last start: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['lastStart']))}")
    for line in r.get("stderr", []):
        print(f"  | {line}")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp status") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
