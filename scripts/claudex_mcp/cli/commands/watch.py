"""Watch the registry and config layers; regenerate the client configs when they change.

Writes the same files as 'claudex mcp generate' (Claude Code's ~/.claude.json, ~/.mcp.json and
Codex's config.toml) at start and after every change (debounced), and logs what changed: one
line per event on stderr, or with --json one JSON object per line on stdout. A registry that is
briefly invalid (mid-install) is logged and waited out. Stops cleanly on SIGTERM or Ctrl-C
(exit 0). The image's entrypoint starts it in the background with CLAUDEX_MCP_WATCH=1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp watch",
    "claudex mcp watch --json --debounce 1",
    "CLAUDEX_MCP_WATCH=1 docker-entrypoint.sh bash   # in the image",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("--debounce", type=float, metavar="SECONDS",
                   help="quiet time after the last change before regenerating (default 0.3)")
    common.add_project(p)
    p.add_argument("--json", action="store_true", help="log one JSON object per event on stdout")
    return p


def _human(event: dict) -> str:
    kind = event["event"]
    if kind == "invalid":
        return f"watch: registry or config invalid: {event['error']} ({event['hint']})"
    parts = [f"watch: {kind}: {len(event['servers'])} servers"]
    if event["added"]:
        parts.append("added " + ", ".join(event["added"]))
    if event["removed"]:
        parts.append("removed " + ", ".join(event["removed"]))
    parts.append("wrote " + ", ".join(event["targets"]) if event["targets"] else "configs unchanged")
    if event["changed"]:
        shown = event["changed"][:5]
        parts.append("after changes to " + ", ".join(shown) + (" ..." if len(event["changed"]) > 5 else ""))
    return "; ".join(parts)


def action(args: argparse.Namespace) -> int:
    from claudex_mcp import paths
    from claudex_mcp.settings import project
    from claudex_mcp.clients import watch
    from claudex_mcp.errors import UsageError

    if args.debounce is not None and not 0 <= args.debounce <= 60:
        raise UsageError(f"--debounce {args.debounce}: expected 0 to 60 seconds", hint="e.g. --debounce 0.5")
    registry = paths.registry_dir()
    where = project.resolve(args.project, args.project_dir)
    stop = {"requested": False}

    def request_stop(_signum, _frame) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def log(event: dict) -> None:
        if args.json:
            sys.stdout.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")  # JSON Lines
            sys.stdout.flush()
        else:
            sys.stderr.write(_human(event) + "\n")
            sys.stderr.flush()
        for warning in event.get("warnings", []):
            common.warn(warning)

    try:
        watch.run(registry, where, log, lambda: stop["requested"],
                  watch.DEBOUNCE_SECONDS if args.debounce is None else args.debounce)
    except OSError as exc:
        from claudex_mcp.errors import ExternalFailure
        raise ExternalFailure(f"cannot watch {registry}: {exc.strerror or exc}",
                            hint="inotify is needed (Linux); check fs.inotify.max_user_watches") from None
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp watch") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
