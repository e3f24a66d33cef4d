"""Upgrade installed servers: git sources to the newest semver tag (or the head of the recorded
branch), folder sources re-copied, catalog servers to their catalog's newest version.

The old version stays in place until the new one has installed, validated and passed an MCP
handshake; then the two are exchanged in one atomic step (a failed handshake shows the server's
last stderr lines). --check only reports what would change (without a server: of every
installed server, as with --all). A downgrade needs --force. A catalog server (installed with
registry:NAME) keeps its inputs and its secrets in the user layer; --force installs the catalog's
version again, which also puts back a server 'claudex mcp verify' finds changed. --all goes on after a failure,
reports every server (upgraded, unchanged or failed and why) and exits non-zero when any failed.

The optional extras installed (install --with) are kept. --with EXTRA adds one, --without EXTRA
removes one (comma-separated or repeated; 'claudex mcp info NAME' lists them): with the upgrade
when there is one, else the installed version is rebuilt with them, through the same staging,
health check and atomic exchange. An extra the server does not declare is refused, naming those
it does, and nothing changes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp upgrade qdrant",
    "claudex mcp upgrade --check",
    "claudex mcp upgrade qdrant --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("server", nargs="?", help="the server to upgrade")
    p.add_argument("--all", action="store_true", help="every installed server")
    p.add_argument("--check", action="store_true",
                   help="only report what would change (without SERVER: for every installed server)")
    p.add_argument("--force", action="store_true", help="allow a downgrade")
    common.add_extras_option(p, "--with", "also install these optional extras of the server (kept by later upgrades)")
    common.add_extras_option(p, "--without", "remove these optional extras of the server")
    common.add_json(p)
    p.set_defaults(prog=prog)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.store import cache
    from claudex_mcp import paths
    from claudex_mcp.errors import ClaudexError, NotFound, UsageError

    if args.check and not args.server:
        args.all = True  # a check changes nothing: without a name it is the check of every server
    if bool(args.server) == bool(args.all):
        raise UsageError("name one server, or give --all", hint="claudex mcp upgrade NAME | --all")
    add, remove = common.extras(args.with_extras), common.extras(args.without_extras)
    if args.all and (add or remove):
        raise UsageError("--with and --without choose one server's extras", code="extras_with_all",
                         hint="claudex mcp upgrade NAME --with EXTRA")
    registry = paths.registry_dir()
    if not args.all:
        result = _upgrade(registry, args.server, args.check, args.force, common.progress(not args.json), add, remove)
        if args.json:
            common.write_json(dict(result, state=_state(result)))
        else:
            _print(result)
        return 0
    index, _ = cache.load(registry)
    names = sorted(e["name"] for k, e in index["servers"].items() if "/" not in k and e["location"] != "core")
    results, failed = [], []
    for name in names:  # one failure must not keep the others from their upgrade
        try:
            result = _upgrade(registry, name, args.check, args.force, common.progress(not args.json))
        except ClaudexError as exc:
            if isinstance(exc, NotFound) and exc.code == "no_server":
                continue  # uninstalled by another command since the list was read
            result = _failed(name, exc)
            failed.append(exc)
        results.append(dict(result, state=_state(result)))
        if not args.json:
            _print(results[-1])
    if args.json:
        common.write_json(results)
    if not failed:
        return 0
    sys.stdout.flush()
    names_failed = [r["name"] for r in results if r["state"] == "failed"]
    common.report_error(ClaudexError(
        f"{len(failed)} of {len(results)} servers could not be upgraded: {', '.join(names_failed)}; "
        "each of them stays as it was", code="upgrade_failed",
        hint="the report above says why for each; fix them, then run the upgrade again"), args.prog)
    return failed[0].exit_code


def _upgrade(registry, name: str, check: bool, force: bool, report, add=(), remove=()) -> dict:
    """A catalog server's upgrade looks in its catalog; any other's in its folder or repository."""
    from claudex_mcp.install import lifecycle
    from claudex_mcp.store import registry as registry_mod

    entry = registry_mod.reconciled(registry).get(name) or {}
    if (entry.get("source") or {}).get("type") == "catalog":
        from claudex_mcp.catalog import installer
        from claudex_mcp.errors import InvalidInput

        if add or remove:
            raise InvalidInput(f"{name} is a catalog server; it has no extras", code="unknown_extra",
                               hint=f"run 'claudex mcp upgrade {name}' without --with and --without")
        return installer.upgrade(registry, name, entry, check=check, force=force, report=report)
    return lifecycle.upgrade(registry, name, check=check, force=force, add=add, remove=remove, report=report)


def _failed(name: str, exc) -> dict:
    error = exc.to_dict()["error"]
    return {"action": "upgrade", "name": name, "upgraded": False, "error": error}


def _state(result: dict) -> str:
    """upgraded, available (with --check), unchanged, or failed (and left as it was)."""
    if "error" in result:
        return "failed"
    if result.get("upgraded"):
        return "upgraded"
    return "available" if result.get("available") else "unchanged"


def _print(r: dict) -> None:
    if r.get("error"):
        error = r["error"]
        print(f"{common.paint('failed', '31')}  {r['name']}: {error['message']}")
        for line in error.get("details", []):
            print(f"  | {line}")
        if error.get("hint"):
            print(f"  hint: {error['hint']}")
    elif r.get("upgraded") and r["reason"].startswith("extras:"):  # the same version, other extras
        extras = ", ".join(r["extras"]) or "none"
        common.print_result(r, f"rebuilt {r['name']} {r['to']} ({r['reason']}); its extras: {extras}")
    elif r.get("upgraded"):
        kept = f"; its extras: {', '.join(r['extras'])}" if r.get("extras") else ""
        common.print_result(r, f"upgraded {r['name']} {r['from']} -> {r['to']} ({r['reason']}){kept}")
        if r.get("extrasDropped"):
            print(f"  {r['to']} no longer has the extras {', '.join(r['extrasDropped'])}: they were removed")
    elif r.get("available"):
        print(f"{r['name']} {r['from']}: an upgrade is available ({r['reason']})")
    else:
        print(f"{r['name']} {r['from']}: up to date ({r['reason']})")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp upgrade") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
