"""List the servers in the registry: location, version, whether enabled here, validity.

Enabled means enabled for the current project after every config layer (see 'config explain').
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp list",
    "claudex mcp list --enabled --project demo",
    "claudex mcp list --json --jq '.[].name'",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("--enabled", action="store_true", help="only the servers enabled here")
    common.add_project(p)
    common.add_refresh(p)
    common.add_json(p)
    return p


def rows(index: dict, layers) -> list[dict]:
    from claudex_mcp.settings import config

    found = []
    for key, entry in sorted(index["servers"].items()):
        enabled = False
        if entry.get("valid"):
            merged, _ = config.merge(layers.sources(entry))
            enabled = bool(merged.get("enabled"))
        row = {"name": entry["name"], "location": entry["location"], "version": entry["version"],
               "enabled": enabled, "valid": entry["valid"], "description": entry.get("description"),
               "source": _redacted(entry["source"]), "folder": entry["folder"], "extras": entry.get("extras")}
        if not entry["valid"]:
            row["problems"] = entry["problems"]
        found.append(row)
    return found


def _redacted(source):
    """A source recorded before install refused URLs with credentials never shows them."""
    if isinstance(source, dict) and isinstance(source.get("url"), str):
        from claudex_mcp import secrets

        return dict(source, url=secrets.redact_url(source["url"]))
    return source


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project

    registry, index = common.registry_index(args.refresh)
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    found = [r for r in rows(index, layers) if r["enabled"] or not args.enabled]
    if layers.notice():  # on stderr, also with --json: the payload keeps its shape
        common.warn(layers.notice())
    if args.json:
        common.write_json(found)
        return 0
    for warning in index.get("warnings", []):
        common.warn(warning)
    common.print_table(found, [("NAME", "name"), ("LOCATION", "location"), ("VERSION", "version"),
                               ("ENABLED", lambda r: "yes" if r["enabled"] else "no"),
                               ("STATUS", _status_cell)])
    return 0


def _status_cell(row: dict) -> tuple[str, str | None]:
    return ("ok", None) if row["valid"] else ("invalid: " + row["problems"][0]["message"], "31")


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp list") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
